// Command ltransfer trains networks, records their trajectories and
// transfers learning trajectories between initialisations. Run
// `ltransfer help` for the list of subcommands.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
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

func init() {
	register("version", "print the module version, Go version and kernel path (also: ltransfer --version)", runVersion)
}

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
	fmt.Fprintf(w, "\nglobal flags (before the command):\n  --cpuprofile FILE  write a CPU profile of the command\n  --version          print the version, Go version and kernel path\n")
	fmt.Fprintf(w, "\n'ltransfer <command> --help' lists a command's flags.\n")
	fmt.Fprintf(w, "environment: %s=generic|avx2|avx512 forces a kernel path.\n", asm.EnvVar)
}

// printVersion writes the module version (from the build information:
// a tagged version, or the VCS revision of a development build), the Go
// version and the kernel path the dispatch chose.
func printVersion(w io.Writer) {
	version, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	fmt.Fprintf(w, "ltransfer %s", version)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		fmt.Fprintf(w, " (revision %s)", rev)
	}
	fmt.Fprintf(w, "\ngo: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	path := asm.Selected().String()
	if asm.Selected() != asm.Best() {
		path += fmt.Sprintf(" (forced by %s; best here: %s)", asm.EnvVar, asm.Best())
	}
	if err := asm.SelectionError(); err != nil {
		path += " (" + err.Error() + ")"
	}
	fmt.Fprintf(w, "kernels: %s (cpu: %s)\n", path, asm.CPUDescription())
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr, "version")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	printVersion(stdout)
	return nil
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
	if len(args) == 0 || (len(args) == 1 && args[0] == "help") || args[0] == "-h" || args[0] == "--help" {
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
	if args[0] == "--version" || args[0] == "-version" {
		args[0] = "version"
	}
	if len(args) == 2 && args[0] == "help" { // help COMMAND: the command's flags
		args = []string{args[1], "--help"}
	}
	// version reports a bad kernel selection instead of failing on it.
	if err := asm.SelectionError(); err != nil && args[0] != "version" {
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
