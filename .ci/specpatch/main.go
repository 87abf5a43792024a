// Command specpatch writes the copies of the providers' OpenAPI specs that
// the Prism contract tests serve (.ci/prism.sh). The specs in
// ../shared/contracts stay as published; only these copies are patched,
// for the Prism quirks listed in ../shared/contracts/README.md:
//
//	specpatch clerk IN OUT    every path gets the /v1 prefix of Clerk's real base URL
//	specpatch workos IN OUT   every list_metadata.after example becomes null, so a
//	                          stateless mock's list ends after one page
package main

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	if len(os.Args) != 4 || os.Args[1] != "clerk" && os.Args[1] != "workos" {
		fmt.Fprintln(os.Stderr, "usage: specpatch clerk|workos IN OUT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "specpatch:", err)
		os.Exit(1)
	}
}

func run(kind, in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%s: not an OpenAPI document", in)
	}
	n := 0
	switch kind {
	case "clerk":
		paths := value(doc.Content[0], "paths")
		if paths == nil || paths.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: no paths", in)
		}
		for i := 0; i < len(paths.Content); i += 2 {
			k := paths.Content[i]
			if strings.HasPrefix(k.Value, "/") && !strings.HasPrefix(k.Value, "/v1/") {
				k.Value = "/v1" + k.Value
				n++
			}
		}
	case "workos":
		nullAfter(doc.Content[0], false, &n)
	}
	if n == 0 {
		return fmt.Errorf("%s: nothing to patch (has the spec changed?)", in)
	}
	b, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "specpatch %s: %d changes -> %s\n", kind, n, out)
	return os.WriteFile(out, b, 0o644)
}

func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// nullAfter walks the document; inside anything named list_metadata (a
// schema or an example, or the ListMetadata schema) an "after" that is a
// scalar example, or a schema's example, is set to null.
func nullAfter(n *yaml.Node, inMeta bool, count *int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			meta := inMeta || k.Value == "list_metadata" || k.Value == "ListMetadata"
			if inMeta && k.Value == "after" {
				switch v.Kind {
				case yaml.ScalarNode:
					if v.Tag != "!!null" {
						setNull(v)
						*count++
					}
				case yaml.MappingNode:
					if ex := value(v, "example"); ex != nil && ex.Kind == yaml.ScalarNode && ex.Tag != "!!null" {
						setNull(ex)
						*count++
					}
				}
				continue
			}
			nullAfter(v, meta, count)
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			nullAfter(c, inMeta, count)
		}
	case yaml.AliasNode:
		// Aliases point at anchors patched where they are defined.
	}
}

func setNull(v *yaml.Node) {
	v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "!!null", "null", 0
}
