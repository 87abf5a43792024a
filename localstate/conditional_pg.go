package localstate

// lockRows: the conditional reads of a Postgres apply lock their rows until
// the commit (conditional.go).
func (pgDialect) lockRows() string { return " FOR UPDATE" }
