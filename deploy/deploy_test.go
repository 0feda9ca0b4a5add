package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// job is the part of a Kubernetes Job the tests read.
type job struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    *int   `yaml:"completions"`
		Parallelism    *int   `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				RestartPolicy string      `yaml:"restartPolicy"`
				Containers    []container `yaml:"containers"`
				Volumes       []struct {
					Name string `yaml:"name"`
					PVC  *struct {
						ClaimName string `yaml:"claimName"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

func readJob(t *testing.T) *job {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("k8s", "transfer-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var j job
	if err := yaml.Unmarshal(b, &j); err != nil {
		t.Fatalf("k8s/transfer-job.yaml: %v", err)
	}
	return &j
}

// shellWords splits a shell command line of plain words and double-quoted
// words (what the sbatch script's command line uses); anything else fails.
func shellWords(line string) ([]string, error) {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimLeft(line, " \t") {
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", line)
			}
			w := line[1 : end+1]
			if strings.ContainsAny(w, "\\`") {
				return nil, fmt.Errorf("word %q needs a real shell", w)
			}
			out = append(out, w)
			line = line[end+2:]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		w := line[:end]
		if strings.ContainsAny(w, "'\\`;|&<>(){}*?") {
			return nil, fmt.Errorf("word %q needs a real shell", w)
		}
		out = append(out, w)
		line = line[end:]
	}
	return out, nil
}

var (
	shellVar = regexp.MustCompile(`\$\{?([A-Z_][A-Z0-9_]*)\}?`)
	k8sVar   = regexp.MustCompile(`\$\(([A-Z_][A-Z0-9_]*)\)`)
)

// sbatchCommand is the ltransfer command line of the sbatch script, its
// variables written $NAME, without the binary.
func sbatchCommand(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("slurm", "transfer-array.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, `exec "$LTRANSFER" `) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf(`slurm/transfer-array.sbatch: %d lines run exec "$LTRANSFER", want 1`, len(lines))
	}
	w, err := shellWords(lines[0])
	if err != nil {
		t.Fatalf("slurm/transfer-array.sbatch: %v", err)
	}
	for i := range w {
		w[i] = shellVar.ReplaceAllString(w[i], "$$$1")
	}
	return w[2:]
}

// TestJobRunsTheSlurmCommandLine: the Indexed Job's container runs the
// command line of the sbatch script (the one deploy/slurm/test.sh runs on
// a real Slurm cluster), with every variable defined, the shard count
// equal to the completions, the CPU request equal to --threads, the
// inputs on a read-only volume and the results on a writable one.
func TestJobRunsTheSlurmCommandLine(t *testing.T) {
	j := readJob(t)
	if j.APIVersion != "batch/v1" || j.Kind != "Job" || j.Spec.CompletionMode != "Indexed" {
		t.Fatalf("want a batch/v1 Job with completionMode Indexed, got %s %s %q", j.APIVersion, j.Kind, j.Spec.CompletionMode)
	}
	ps := j.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(ps.Containers))
	}
	if ps.RestartPolicy != "Never" && ps.RestartPolicy != "OnFailure" {
		t.Errorf("restartPolicy %q: a Job's pods need Never or OnFailure", ps.RestartPolicy)
	}
	c := ps.Containers[0]
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = k8sVar.ReplaceAllString(a, "$$$1")
	}
	want := sbatchCommand(t)
	if !slices.Equal(args, want) {
		t.Errorf("the Job runs\n  %s\nthe sbatch script runs\n  %s", strings.Join(args, " "), strings.Join(want, " "))
	}
	if len(c.Command) != 1 || c.Command[0] != "/ltransfer" {
		t.Errorf("command %q, want the image's /ltransfer", c.Command)
	}

	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for _, a := range c.Args {
		for _, m := range k8sVar.FindAllStringSubmatch(a, -1) {
			if _, ok := env[m[1]]; !ok {
				t.Errorf("args use $(%s), which env does not set (Kubernetes would pass it literally)", m[1])
			}
		}
	}
	if j.Spec.Completions == nil || env["LTRANSFER_SHARD_COUNT"] != fmt.Sprint(*j.Spec.Completions) {
		t.Errorf("LTRANSFER_SHARD_COUNT %q must equal completions %v", env["LTRANSFER_SHARD_COUNT"], j.Spec.Completions)
	}
	if p := j.Spec.Parallelism; p == nil || j.Spec.Completions == nil || *p < 1 || *p > *j.Spec.Completions {
		t.Errorf("parallelism %v: want 1 … completions", p)
	}
	threads := env["THREADS"]
	if threads == "" || threads == "0" {
		t.Errorf("THREADS %q: want the CPU count of a pod", threads)
	}
	if c.Resources.Requests["cpu"] != threads || c.Resources.Limits["cpu"] != threads {
		t.Errorf("cpu request %q and limit %q must equal THREADS %q", c.Resources.Requests["cpu"], c.Resources.Limits["cpu"], threads)
	}
	if c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Error("no memory request or limit")
	}

	readOnlyVolume := map[string]bool{}
	for _, v := range ps.Volumes {
		readOnlyVolume[v.Name] = v.PVC != nil && v.PVC.ReadOnly
	}
	mountOf := func(path string) (ro bool, ok bool) {
		best := ""
		for _, m := range c.VolumeMounts {
			mp := strings.TrimSuffix(m.MountPath, "/")
			if (path == mp || strings.HasPrefix(path, mp+"/")) && len(mp) > len(best) {
				best, ro = mp, m.ReadOnly && readOnlyVolume[m.Name]
			}
		}
		return ro, best != ""
	}
	for _, name := range []string{"SOURCE", "DATA"} {
		if ro, ok := mountOf(env[name]); !ok || !ro {
			t.Errorf("%s=%s: want it on a read-only mount of a read-only volume", name, env[name])
		}
	}
	if ro, ok := mountOf(env["OUT"]); !ok || ro {
		t.Errorf("OUT=%s: want it on a writable volume", env["OUT"])
	}
}

// TestShellWords: the sbatch line parser refuses what it cannot read.
func TestShellWords(t *testing.T) {
	w, err := shellWords(`exec "$A" x --y "$B" `)
	if err != nil || !slices.Equal(w, []string{"exec", "$A", "x", "--y", "$B"}) {
		t.Errorf("got %q, %v", w, err)
	}
	for _, bad := range []string{`a "b`, `a 'b c'`, `a $(b)`, `a; b`, `a "\"b"`} {
		if _, err := shellWords(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestDockerfileBuildsStaticCLI: the image's build stage builds
// ./cmd/ltransfer with CGO_ENABLED=0, the final stage holds only that
// binary (FROM scratch, ENTRYPOINT the Job's command), and that build,
// made here, is a static executable.
func TestDockerfileBuildsStaticCLI(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("k8s", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // instructions per stage, continuation lines joined
	var cur string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") || (l == "" && cur == "") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		l, cur = strings.TrimSpace(cur+l), ""
		if l == "" {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before the first FROM", l)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], l)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	var builds []string
	for _, ins := range stages[0] {
		if strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, "go build") {
			builds = append(builds, strings.TrimSpace(strings.TrimPrefix(ins, "RUN ")))
		}
	}
	if len(builds) != 1 {
		t.Fatalf("build stage: %d RUN … go build lines, want 1", len(builds))
	}
	words := strings.Fields(builds[0])
	if len(words) < 4 || words[0] != "CGO_ENABLED=0" || words[1] != "go" || words[2] != "build" || words[len(words)-1] != "./cmd/ltransfer" {
		t.Fatalf("build line %q: want CGO_ENABLED=0 go build … ./cmd/ltransfer", builds[0])
	}
	if strings.ContainsAny(builds[0], "&;|\"'$`") {
		t.Errorf("build line %q: want plain words (one go build, no quoting)", builds[0])
	}
	// Flags that change neither the code nor how it links; the build
	// below leaves them out (-trimpath would rebuild every package).
	out := ""
	for i := 3; i < len(words)-1; i++ {
		switch w := words[i]; {
		case w == "-o" && i+2 < len(words):
			out = words[i+1]
			i++
		case w == "-trimpath" || w == "-ldflags=-s" || w == "-ldflags=-w" || w == "-v":
		default:
			t.Errorf("build line %q: flag %q may change the binary; the test knows -o, -trimpath, -ldflags=-s|-w", builds[0], w)
		}
	}
	final := stages[len(stages)-1]
	if f := strings.Fields(final[0]); len(f) < 2 || f[1] != "scratch" {
		t.Errorf("final stage %q: want FROM scratch (nothing but the static binary)", final[0])
	}
	copied, entry := false, ""
	for _, ins := range final {
		f := strings.Fields(ins)
		switch {
		case f[0] == "COPY" && len(f) == 4 && strings.HasPrefix(f[1], "--from=") && f[2] == out:
			copied, entry = true, f[3]
		case f[0] == "ENTRYPOINT":
			if strings.TrimSpace(strings.TrimPrefix(ins, "ENTRYPOINT")) != fmt.Sprintf("[%q]", entry) {
				t.Errorf("ENTRYPOINT %q, want [%q]", ins, entry)
			}
		}
	}
	if !copied || entry != readJob(t).Spec.Template.Spec.Containers[0].Command[0] {
		t.Errorf("final stage copies %q to %q; the Job runs %q", out, entry, readJob(t).Spec.Template.Spec.Containers[0].Command)
	}

	// The same build here (as the Slurm test builds it): a static
	// executable, with no interpreter and no dynamic section.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build with")
	}
	bin := filepath.Join(t.TempDir(), "ltransfer")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/ltransfer")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the CGO_ENABLED=0 build has a %v segment: not static", p.Type)
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the CGO_ENABLED=0 build imports %v", libs)
	}
}
