// Command ltransfer trains networks, records their trajectories and
// transfers learning trajectories between initialisations. Run
// `ltransfer help` for the list of subcommands.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"

	"github.com/ltransfer/ltransfer/asm"
)

// command is one subcommand. run gets the arguments after the command name
// and returns an error to print; it must not call os.Exit itself.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

// register adds a subcommand; each cmd_*.go file registers its own in init.
func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("ltransfer: duplicate command " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ltransfer <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nenvironment: %s=generic|avx2|avx512 forces a kernel path.\n", asm.EnvVar)
}

func main() {
	// The big buffers (activations, parameters, batches) hold no pointers,
	// so collecting often is cheap, and it keeps the heap near what is
	// live instead of twice that: GOGC=25 unless the user chose one.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain is main without the exit, so tests can drive the CLI.
func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if len(args) > 2 && args[0] == "--cpuprofile" {
		stop, err := startCPUProfile(args[1])
		if err != nil {
			fmt.Fprintln(stderr, "ltransfer:", err)
			return 2
		}
		defer stop()
		args = args[2:]
	}
	if err := asm.SelectionError(); err != nil {
		fmt.Fprintln(stderr, "ltransfer:", err)
		return 2
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ltransfer: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "ltransfer %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
