package localstate_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

// mysqlUser creates a user with password pw allowed on db, dropped at the end.
func mysqlUser(t *testing.T, db *servertest.DB, pw string) string {
	t.Helper()
	user := servertest.Name("u")
	db.Exec(t, fmt.Sprintf("CREATE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s'; CREATE USER '%[1]s'@'localhost' IDENTIFIED BY '%[2]s'; GRANT ALL ON `%[3]s`.* TO '%[1]s'@'%%'; GRANT ALL ON `%[3]s`.* TO '%[1]s'@'localhost'", user, pw, db.Name))
	t.Cleanup(func() {
		if _, err := db.SQL.Exec(fmt.Sprintf("DROP USER IF EXISTS '%[1]s'@'%%', '%[1]s'@'localhost'", user)); err != nil {
			t.Errorf("dropping user %s: %v", user, err)
		}
	})
	return user
}

// A DSN's ?password= is a password in the DSN: accepted (the userinfo's
// wins when both are there, password_env over both), never shown.
func TestMySQLDSNPasswordParam(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE users (id VARCHAR(64) PRIMARY KEY)")
	pw := "Qp4ss-W0rd_7"
	user := mysqlUser(t, db, pw)
	host := func() string { u, _ := url.Parse(db.DSN); return u.Host }()
	t.Setenv("RCT_MYSQL_FIX_PW", pw)
	for _, tc := range []struct {
		name, loc string
		env       string
	}{
		{"query password", fmt.Sprintf("mysql://%s@%s/%s?password=%s", user, host, db.Name, url.QueryEscape(pw)), ""},
		{"userinfo wins", fmt.Sprintf("mysql://%s:%s@%s/%s?password=wrong", user, pw, host, db.Name), ""},
		{"password_env wins", fmt.Sprintf("mysql://%s:wrong@%s/%s?password=wrong2", user, host, db.Name), "RCT_MYSQL_FIX_PW"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := localstate.Open(ctx, tc.loc, localstate.OpenOptions{Server: localstate.ServerOptions{PasswordEnv: tc.env}})
			if err != nil {
				if strings.Contains(err.Error(), pw) {
					t.Errorf("the error shows the password")
				}
				t.Fatalf("open: %v", err)
			}
			defer st.Close()
			if _, err := st.Columns(ctx, &localstate.Table{Resource: "users"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A wrong ?password= is the server's "access denied", not a refused DSN.
	_, err := localstate.Open(ctx, fmt.Sprintf("mysql://%s@%s/%s?password=nope-%s", user, host, db.Name, pw), localstate.OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "access denied") || strings.Contains(err.Error(), pw) {
		t.Errorf("wrong ?password=: %v", err)
	}
}
