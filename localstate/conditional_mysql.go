package localstate

// lockRows: the conditional reads of a MySQL apply lock their rows until
// the commit (conditional.go); under REPEATABLE READ the lock on an absent
// key also keeps others from inserting it.
func (mysqlDialect) lockRows() string { return " FOR UPDATE" }

// plainConditionalInsert: ClientFoundRows makes ON DUPLICATE KEY UPDATE
// count a duplicate as a row found, so DO NOTHING cannot tell (see
// plainInserter).
func (mysqlDialect) plainConditionalInsert() bool { return true }
