package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
)

// numRange is the accepted range of a numeric flag: [min, max], or
// (min, max] when minOpen, [min, max) when maxOpen; also lists values
// outside the range that mean something (a sentinel like --wd -1).
type numRange struct {
	min, max         float64
	minOpen, maxOpen bool
	also             []float64
	why              string // what the range is, for the error
}

const noMax = math.MaxFloat64

// flagRanges holds the range of every numeric flag, by name; a key
// "command/name" overrides the name's entry for one command. Every
// numeric flag of every command must appear (TestEveryNumericFlagHasARange).
var flagRanges = map[string]numRange{
	// sizes and counts
	"width":            {min: 0, max: 1 << 16},
	"bench step/width": {min: 1, max: 1 << 16},
	"plot/fig-width":   {min: 0, max: 100, minOpen: true, why: "inches"},
	"plot/fig-height":  {min: 0, max: 100, minOpen: true, why: "inches"},
	"width-factor":     {min: 0, max: 64},
	"depth":            {min: 0, max: 256},
	"classes":          {min: 0, max: 1 << 16},
	"limit":            {min: 0, max: math.MaxInt32},
	"transfer/limit":   {min: 0, max: math.MaxInt32, also: []float64{-1}, why: "≥ 0, or -1 for the source's limit"},
	"val-fraction":     {min: 0, max: 1, maxOpen: true},
	"epochs":           {min: 0, max: 1 << 20},
	"finetune-epochs":  {min: 0, max: 1 << 20},
	"batch":            {min: 1, max: 1 << 20},
	"gm-batches":       {min: 1, max: 1 << 16},
	"select-batches":   {min: 1, max: 1 << 16},
	"steps":            {min: 1, max: 1 << 16},
	"segments":         {min: 1, max: 1 << 16},
	"targets":          {min: 0, max: 1 << 16},
	"shard-count":      {min: 0, max: 1 << 16},
	"workers":          {min: 0, max: 1 << 12},
	"workspace-mb":     {min: 0, max: 1 << 30, also: []float64{-1}, why: "MiB ≥ 0, or -1 for no bound"},
	"threads":          {min: 0, max: 1 << 12},
	"points":           {min: 0, max: 1 << 16},
	"splits":           {min: 1, max: 1 << 16},
	"checkpoint-every": {min: 0, max: math.MaxInt32},
	"steps-per-epoch":  {min: 0, max: math.MaxInt32},
	"warmup":           {min: 0, max: math.MaxInt32},
	"reps":             {min: 0, max: 1 << 20},
	"shapes":           {min: 0, max: 1 << 16},
	"m":                {min: 0, max: 1 << 16},
	"n":                {min: 0, max: 1 << 16},
	"k":                {min: 0, max: 1 << 16},
	// hyperparameters
	"lr":       {min: 0, max: noMax},
	"momentum": {min: 0, max: 1, maxOpen: true},
	"wd":       {min: 0, max: noMax},
	"train/wd": {min: 0, max: noMax, also: []float64{-1}, why: "≥ 0, or -1 for the optimiser's default"},
	"gamma":    {min: 0, max: 1, minOpen: true},
	"ymin":     {min: -noMax, max: noMax},
	"ymax":     {min: -noMax, max: noMax},
	// seeds: any value of their type
	"seed": {min: -noMax, max: noMax}, "split-seed": {min: -noMax, max: noMax}, "target-seed": {min: -noMax, max: noMax},
	"seed-source": {min: -noMax, max: noMax}, "seed-target": {min: -noMax, max: noMax},
}

// checkNumericFlags checks every numeric flag of fs, set or default: a
// float must be finite, and every number must lie in its range. The flag
// package has already refused values that overflow the flag's type.
func checkNumericFlags(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		var v float64
		switch x := g.Get().(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				err = fmt.Errorf("--%s %v: want a finite number", f.Name, x)
				return
			}
			v = x
		case int:
			v = float64(x)
		case int64:
			v = float64(x)
		case uint:
			v = float64(x)
		case uint64:
			v = float64(x)
		default:
			return
		}
		r, ok := flagRanges[fs.Name()+"/"+f.Name]
		if !ok {
			r, ok = flagRanges[f.Name]
		}
		if !ok {
			return // TestEveryNumericFlagHasARange fails instead
		}
		if !r.contains(v) {
			err = fmt.Errorf("--%s %s: want %s", f.Name, f.Value.String(), r.describe())
		}
	})
	return err
}

func (r numRange) contains(v float64) bool {
	for _, a := range r.also {
		if v == a {
			return true
		}
	}
	if v < r.min || v > r.max || (r.minOpen && v == r.min) || (r.maxOpen && v == r.max) {
		return false
	}
	return true
}

func (r numRange) describe() string {
	if r.also != nil {
		return r.why
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	var s string
	switch {
	case r.min == -noMax && r.max == noMax:
		s = "a finite number"
	case r.max == noMax:
		if r.minOpen {
			s = "a finite number > " + num(r.min)
		} else {
			s = "a finite number ≥ " + num(r.min)
		}
	default:
		lo, hi := "[", "]"
		if r.minOpen {
			lo = "("
		}
		if r.maxOpen {
			hi = ")"
		}
		s = "a value in " + lo + num(r.min) + ", " + num(r.max) + hi
	}
	if r.why != "" {
		s += " (" + r.why + ")"
	}
	return s
}
