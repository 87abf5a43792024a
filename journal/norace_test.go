package journal

var raceEnabled bool
