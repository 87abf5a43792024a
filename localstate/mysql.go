package localstate

// The MySQL / MariaDB store (issue #14).

var openMySQL = notYet("MySQL")
