package rest

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/providers"
)

// ParseConfig and ParseConfigAt let the tests write a rest: section as a
// Go map: it goes through its YAML form and the same typed decoder as
// reconctl.yaml (DecodeConfig).
func ParseConfig(settings map[string]any) (*Config, error) {
	return ParseConfigAt(settings, nil, "")
}

// ParseConfigAt is ParseConfig with the lines of the keys (by dotted path
// inside the section) and the file to name in errors.
func ParseConfigAt(settings map[string]any, lines map[string]int, file string) (*Config, error) {
	n, err := yamlNode(settings)
	if err != nil {
		return nil, err
	}
	return decodeAt(n, lines, file)
}

// yamlNode is v as a YAML node (nil for an empty v).
func yamlNode(v map[string]any) (*yaml.Node, error) {
	if len(v) == 0 {
		return nil, nil
	}
	src, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rest: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("rest: settings do not read back as YAML: %v", err)
	}
	return doc.Content[0], nil
}

// withSettings is opts with the rest: section given as a map (see
// ParseConfig) in Options.Config.
func withSettings(opts providers.Options, settings map[string]any) (providers.Options, error) {
	cfg, err := ParseConfig(settings)
	if err != nil {
		return opts, err
	}
	opts.Config = cfg
	return opts, nil
}

// newWithSettings builds the provider from opts with the section as a map.
func newWithSettings(opts providers.Options, settings map[string]any) (providers.Provider, error) {
	opts, err := withSettings(opts, settings)
	if err != nil {
		return nil, err
	}
	return New(opts)
}
