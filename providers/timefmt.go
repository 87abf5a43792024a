package providers

import (
	"time"

	"github.com/reconctl/reconctl/snapshot"
)

// TimeLayouts are the timestamp text layouts reconctl reads (the one list,
// snapshot.TimeLayouts).
var TimeLayouts = snapshot.TimeLayouts

// ParseTime parses timestamp text in one of TimeLayouts: the one text-time
// parser (snapshot.ParseTimeText), shared by the REST provider, the engine's
// time compare mode and the app state's reader.
func ParseTime(s string) (time.Time, bool) { return snapshot.ParseTimeText(s) }
