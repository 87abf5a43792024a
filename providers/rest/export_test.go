package rest

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
