// Command mkdb rebuilds testdata/demo/app.db from app.sql.
package main

import (
	"database/sql"
	"log"
	"os"

	_ "modernc.org/sqlite"
)

func main() {
	sqlText, err := os.ReadFile("testdata/demo/app.sql")
	if err != nil {
		log.Fatal(err)
	}
	_ = os.Remove("testdata/demo/app.db")
	db, err := sql.Open("sqlite", "file:testdata/demo/app.db")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Exec(string(sqlText)); err != nil {
		log.Fatal(err)
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}
}
