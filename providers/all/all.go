// Package all registers every provider: import it once (the reconctl
// command does) and every provider is available by name. Adding a provider
// is a new folder under providers/ that calls providers.Register from init,
// plus one import line here.
package all

import (
	_ "github.com/reconctl/reconctl/providers/clerk"
	_ "github.com/reconctl/reconctl/providers/file"
	_ "github.com/reconctl/reconctl/providers/rest"
	_ "github.com/reconctl/reconctl/providers/stripe"
	_ "github.com/reconctl/reconctl/providers/workos"
)
