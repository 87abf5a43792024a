package commands

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/stripe/stripe-go/v84"
	"github.com/urfave/cli/v2"
)

func versionCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print reconctl's version, commit, Go version and the Stripe API version it speaks",
		Description: `EXAMPLES:
   reconctl version

EXIT STATUS:
   0  always`,
		Action: func(c *cli.Context) error {
			version, commit, modified := "(devel)", "unknown", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				if bi.Main.Version != "" {
					version = bi.Main.Version
				}
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision":
						commit = s.Value
					case "vcs.modified":
						if s.Value == "true" {
							modified = " (modified)"
						}
					}
				}
			}
			fmt.Fprintf(io.Out, "reconctl %s\ncommit %s%s\n%s %s/%s\nstripe-go v84, Stripe API version %s\n",
				version, commit, modified, runtime.Version(), runtime.GOOS, runtime.GOARCH, stripe.APIVersion)
			return nil
		},
	}
}

const bashCompletion = `# reconctl bash completion: source <(reconctl completion bash)
_reconctl_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:$COMP_CWORD}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
}
complete -o bashdefault -o default -F _reconctl_complete reconctl
`

const zshCompletion = `#compdef reconctl
# reconctl zsh completion: source <(reconctl completion zsh)
_reconctl() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _reconctl reconctl
`

func completionCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `EXAMPLES:
   source <(reconctl completion bash)
   reconctl completion zsh > "${fpath[1]}/_reconctl"
   reconctl completion fish > ~/.config/fish/completions/reconctl.fish

EXIT STATUS:
   0  printed
   1  unknown shell`,
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(io.Out, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(io.Out, zshCompletion)
				return err
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(io.Out, s)
				return err
			}
			return fmt.Errorf("completion needs a shell: bash, zsh or fish")
		},
	}
}
