// Command mkdb rebuilds testdata/demo/app.db from app.sql.
package main

import (
	"context"
	"log"
	"os"

	"github.com/reconctl/reconctl/localstate"
)

func main() {
	sqlText, err := os.ReadFile("testdata/demo/app.sql")
	if err != nil {
		log.Fatal(err)
	}
	_ = os.Remove("testdata/demo/app.db")
	if err := localstate.CreateSQLite(context.Background(), "testdata/demo/app.db", string(sqlText)); err != nil {
		log.Fatal(err)
	}
}
