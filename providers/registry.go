package providers

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"
)

// Factory builds a provider from options.
type Factory func(Options) (Provider, error)

// Registration is everything reconctl knows about a provider by name: a
// provider package registers one from init, and providers/all imports every
// provider package, so adding a provider is a new folder plus one import
// line there. Config, commands and messages take names from here.
type Registration struct {
	// Name is the registry name: --provider NAME, provider: NAME, and the
	// key of the provider's section in reconctl.yaml.
	Name string
	// Rank orders providers in messages and help ("stripe, workos, clerk,
	// rest, file:PATH"): lower first, then by name.
	Rank int
	// TakesPath marks a provider named NAME:PATH (file:export.json); Usage
	// shows it as "NAME:PATH", PathExample in the error for a missing path.
	TakesPath   bool
	PathExample string
	// New builds the provider.
	New Factory
	// DecodeConfig, when set, decodes the provider's own section of
	// reconctl.yaml (its key is Name) into Options.Config. section is the
	// raw YAML node, so errors can name file:line; file is the config file.
	// A provider without DecodeConfig has no section in reconctl.yaml.
	DecodeConfig func(section *yaml.Node, file string) (any, error)
	// KeyPatterns are the shapes of the provider's secrets (API keys,
	// signing secrets): httpx scrubs anything of these shapes from what
	// reconctl prints or stores, and refuses a setting naming a key
	// variable that holds one. A new key shape touches only the provider's
	// folder.
	KeyPatterns []KeyPattern
}

// KeyPattern is the shape of one kind of provider secret: Prefix (a
// regular expression, matched at a word boundary: `sk_`, `pk_(?:live|test)_`)
// followed by at least MinBody key characters ([A-Za-z0-9_-+/=], dots not
// counted, so help text such as "(whsec_...)" is not taken for a key).
type KeyPattern struct {
	Prefix  string
	MinBody int
}

// Usage is how the provider is named on the command line ("file:PATH").
func (r Registration) Usage() string {
	if r.TakesPath {
		return r.Name + ":PATH"
	}
	return r.Name
}

var (
	mu   sync.RWMutex
	regs = map[string]Registration{}
	// gen counts changes to regs, so users of KeyPatterns can cache.
	gen atomic.Uint64
)

// Register makes a provider available by name. It is called from init; a
// second registration of a name, or one without Name or New, panics.
func Register(r Registration) {
	if r.Name == "" || r.New == nil {
		panic("providers.Register: a registration needs Name and New")
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := regs[r.Name]; dup {
		panic("providers.Register: provider " + r.Name + " registered twice")
	}
	for _, kp := range r.KeyPatterns {
		if kp.MinBody < 1 {
			panic("providers.Register: provider " + r.Name + ": a key pattern needs MinBody")
		}
		if _, err := regexp.Compile(kp.Prefix); err != nil || kp.Prefix == "" {
			panic("providers.Register: provider " + r.Name + ": bad key pattern prefix " + strconv.Quote(kp.Prefix))
		}
	}
	regs[r.Name] = r
	gen.Add(1)
}

// Unregister removes a registration (tests that register a provider of
// their own undo it with this).
func Unregister(name string) {
	mu.Lock()
	defer mu.Unlock()
	delete(regs, name)
	gen.Add(1)
}

// Generation changes whenever a registration does (a cheap check before
// calling KeyPatterns again).
func Generation() uint64 { return gen.Load() }

// KeyPatterns lists the key patterns of every registered provider, in
// Rank order, each once, with a generation number that changes whenever a
// registration does (so a caller can cache what it builds from them).
func KeyPatterns() (generation uint64, patterns []KeyPattern) {
	generation = gen.Load()
	for _, r := range Registrations() {
		for _, kp := range r.KeyPatterns {
			if !slices.Contains(patterns, kp) {
				patterns = append(patterns, kp)
			}
		}
	}
	return generation, patterns
}

// Lookup returns the registration of name.
func Lookup(name string) (Registration, bool) {
	mu.RLock()
	defer mu.RUnlock()
	r, ok := regs[name]
	return r, ok
}

// Registrations lists the registered providers by Rank, then name.
func Registrations() []Registration {
	mu.RLock()
	out := make([]Registration, 0, len(regs))
	for _, r := range regs {
		out = append(out, r)
	}
	mu.RUnlock()
	slices.SortFunc(out, func(a, b Registration) int {
		if a.Rank != b.Rank {
			return a.Rank - b.Rank
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Names lists registered providers, sorted by name.
func Names() []string {
	var out []string
	for _, r := range Registrations() {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

// Usages lists the providers as named on the command line, in Rank order
// ("stripe, workos, clerk, rest, file:PATH").
func Usages() string {
	var out []string
	for _, r := range Registrations() {
		out = append(out, r.Usage())
	}
	return strings.Join(out, ", ")
}

// Sections lists the providers that have a section in reconctl.yaml, in
// Rank order.
func Sections() []string {
	var out []string
	for _, r := range Registrations() {
		if r.DecodeConfig != nil {
			out = append(out, r.Name)
		}
	}
	return out
}

// SplitSpec splits "file:PATH" into ("file", "PATH") for a provider that
// takes a path; other specs have no path.
func SplitSpec(spec string) (name, path string) {
	if n, p, ok := strings.Cut(spec, ":"); ok {
		if r, known := Lookup(n); known && r.TakesPath {
			return n, p
		}
	}
	return spec, ""
}

// Open builds the provider named by opts.Spec.
func Open(opts Options) (Provider, error) {
	name, path := SplitSpec(opts.Spec)
	if name == "" {
		return nil, fmt.Errorf("no provider given: set --provider (%s) or provider: in reconctl.yaml", Usages())
	}
	r, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown provider %q: use one of %s", name, strings.Join(Names(), ", "))
	}
	if opts.Path == "" {
		opts.Path = path
	}
	if r.TakesPath && opts.Path == "" {
		return nil, errors.New("provider " + name + ": needs a path: --provider " + r.PathExample)
	}
	return r.New(opts)
}

// DecodeSection decodes the section of reconctl.yaml of the provider
// named by spec with its registered decoder. A provider without a decoder,
// or a nil section, gives nil.
func DecodeSection(spec string, section *yaml.Node, file string) (any, error) {
	name, _ := SplitSpec(spec)
	r, ok := Lookup(name)
	if !ok || r.DecodeConfig == nil || section == nil {
		return nil, nil
	}
	return r.DecodeConfig(section, file)
}

// SectionMap decodes a provider's section of reconctl.yaml into a plain map
// for a decoder that validates it key by key; a section that is not a
// mapping (or is empty) gives nil. A YAML error reads "file:line: name: …".
func SectionMap(section *yaml.Node, file, name string) (map[string]any, error) {
	if section == nil {
		return nil, nil
	}
	var v any
	if err := section.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s:%d: %s: %v", file, section.Line, name, err)
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// KeyLines returns the line of every mapping key under a section by its
// dotted path ("resources.users.pagination.style"; list items by index).
func KeyLines(section *yaml.Node) map[string]int {
	out := map[string]int{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := prefix + n.Content[i].Value
				out[k] = n.Content[i].Line
				walk(n.Content[i+1], k+".")
			}
		case yaml.SequenceNode:
			for i, e := range n.Content {
				walk(e, fmt.Sprintf("%s%d.", prefix, i))
			}
		}
	}
	if section != nil {
		walk(section, "")
	}
	return out
}
