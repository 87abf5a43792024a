package localstate

// The PostgreSQL store (issue #14).

var openPostgres = notYet("PostgreSQL")
