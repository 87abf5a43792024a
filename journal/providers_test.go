package journal

// The scrubber knows the providers' key shapes from their registrations
// (providers.Registration.KeyPatterns), as in the reconctl binary, which
// imports every provider.
import _ "github.com/reconctl/reconctl/providers/all"
