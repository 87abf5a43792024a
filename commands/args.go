package commands

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Interspersed lets flags follow positional arguments ("check-user cus_1
// --fix"), which urfave/cli v2 does not: it moves a command's flags before
// its positional arguments, using the command's flag definitions to know
// which flags take a value.
func Interspersed(app *cli.App, args []string) []string {
	if app.Metadata == nil {
		app.Metadata = map[string]any{}
	}
	app.Metadata[rawArgsKey] = args // for the hint of a stray argument
	if len(args) < 3 {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	boolFlag := map[string]bool{"help": true, "h": true}
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				boolFlag[n] = true
			}
		}
	}
	var flags, pos []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || boolFlag[name] {
			continue
		}
		if i+1 < len(rest) {
			flags = append(flags, rest[i+1])
			i++
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out
}

const rawArgsKey = "reconctl.args"

// maxArgs is how many positional arguments each command takes; a command not
// listed takes none.
var maxArgs = map[string]int{"history": 1, "check-user": 1, "completion": 1}

// argsWhat says what a command's positional arguments are, for the error.
var argsWhat = map[string]string{
	"history":    "history takes at most one run id",
	"check-user": "check-user takes exactly one user id or email",
	"completion": "completion takes one shell name",
}

// checkArgCount makes a positional argument that cmd does not take a usage
// error before its action runs, so nothing is read or written: "diff --apply
// false" must not apply, and "-r customers subscriptions" must not quietly
// check only customers.
func checkArgCount(app *cli.App, cmd *cli.Command) {
	action := cmd.Action
	if action == nil {
		return
	}
	limit := maxArgs[cmd.Name]
	cmd.Action = func(c *cli.Context) error {
		if c.NArg() > limit {
			return strayArgument(app, cmd, c.Args().Slice()[limit])
		}
		return action(c)
	}
}

func strayArgument(app *cli.App, cmd *cli.Command, stray string) error {
	what, ok := argsWhat[cmd.Name]
	if !ok {
		what = cmd.Name + " takes no positional arguments"
	}
	if hint := strayHint(app, cmd, stray); hint != "" {
		what = hint
	}
	return fmt.Errorf("unexpected argument %q: %s; see reconctl %s --help", stray, what, cmd.Name)
}

// strayHint explains a stray argument from the flag just before it on the
// command line: a value given to a boolean flag, or a second value after a
// repeatable flag's one.
func strayHint(app *cli.App, cmd *cli.Command, stray string) string {
	raw, _ := app.Metadata[rawArgsKey].([]string)
	if len(raw) < 3 {
		return ""
	}
	kind := map[string]string{}
	for _, f := range cmd.Flags {
		k := ""
		switch f.(type) {
		case *cli.BoolFlag:
			k = "bool"
		case *cli.StringSliceFlag:
			k = "slice"
		default:
			k = "value"
		}
		for _, n := range f.Names() {
			kind[n] = k
		}
	}
	rest := raw[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			return ""
		}
		if len(a) >= 2 && a[0] == '-' {
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			k := kind[name]
			if k == "" || k == "bool" || hasValue {
				if k == "bool" && !hasValue && i+1 < len(rest) && rest[i+1] == stray {
					h := a + " takes no value"
					if v := strings.ToLower(stray); v == "true" || v == "false" {
						h += fmt.Sprintf("; to set it explicitly write %s=%s", a, v)
					}
					return h
				}
				if k == "slice" && hasValue && i+1 < len(rest) && rest[i+1] == stray {
					return sliceHint(a)
				}
				continue
			}
			if k == "slice" && i+2 < len(rest) && rest[i+2] == stray {
				return sliceHint(a)
			}
			i++ // the flag's value
			continue
		}
		if a == stray {
			return ""
		}
	}
	return ""
}

func sliceHint(flag string) string {
	flag, _, _ = strings.Cut(flag, "=")
	if n := strings.TrimLeft(flag, "-"); n == "r" || n == "resource" {
		return "to name several resources repeat " + flag + " (" + flag + " customers " + flag + " subscriptions) or separate them with commas"
	}
	return "to give several values repeat " + flag
}
