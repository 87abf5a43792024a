package journal

import (
	"strconv"
	"strings"

	"github.com/reconctl/reconctl/localstate"
)

// dialect is the SQL of the database the journal lives in: SQLite,
// Postgres or MySQL/MariaDB. Every statement is written once with ?
// placeholders and rebound here ($1, $2, … for Postgres, whose pgx stdlib
// driver does not rebind). The journal's own kind is also the kind of any
// Tx it is given: a state's Tx only reaches the journal when the journal
// lives in that state's database.
type dialect struct{ kind string }

func dialectOf(kind string) dialect { return dialect{kind: kind} }

func (d dialect) pg() bool    { return d.kind == localstate.KindPostgres }
func (d dialect) mysql() bool { return d.kind == localstate.KindMySQL }

// bind rewrites the ? placeholders of query for the dialect. The journal's
// statements hold no ? inside string literals.
func (d dialect) bind(query string) string {
	if !d.pg() || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// upsert is an INSERT of cols into table that, when a row with the same
// key exists, updates the update columns — only where cond holds, when cond
// is set. cond is written in SQLite/Postgres terms: excluded.col is the new
// value and table.col the stored one. On MySQL it becomes
// ON DUPLICATE KEY UPDATE col = IF(cond, VALUES(col), col), with the
// column cond reads assigned last (MySQL assigns left to right and later
// assignments see the earlier ones).
func (d dialect) upsert(table string, cols, key, update []string, cond string) string {
	q := "INSERT INTO " + table + " (" + d.cols(cols) + ") VALUES (" + placeholders(len(cols)) + ")"
	if d.mysql() {
		var sets []string
		mc := strings.NewReplacer("excluded.", "VALUES(", table+".", "")
		for _, c := range update {
			qc := d.col(c)
			if cond == "" {
				sets = append(sets, qc+" = VALUES("+qc+")")
				continue
			}
			sets = append(sets, qc+" = IF("+closeValues(mc.Replace(cond))+", VALUES("+qc+"), "+qc+")")
		}
		return q + " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
	}
	var sets []string
	for _, c := range update {
		qc := d.col(c)
		sets = append(sets, qc+" = excluded."+qc)
	}
	q += " ON CONFLICT (" + d.cols(key) + ") DO UPDATE SET " + strings.Join(sets, ", ")
	if cond != "" {
		q += " WHERE " + cond
	}
	return q
}

// closeValues closes the VALUES( that replaced each excluded. prefix: the
// column name ends at the first character that cannot be in one.
func closeValues(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "VALUES(")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+len("VALUES(")])
		s = s[i+len("VALUES("):]
		j := 0
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		b.WriteString(s[:j] + ")")
		s = s[j:]
	}
}

// col quotes a column name that is reserved in the dialect (MySQL's key).
func (d dialect) col(c string) string {
	if d.mysql() && c == "key" {
		return "`key`"
	}
	return c
}

func (d dialect) cols(cs []string) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = d.col(c)
	}
	return strings.Join(out, ", ")
}

// order is the column that keeps insertion order among runs that started
// in the same instant: SQLite's rowid, a generated sequence elsewhere.
func (d dialect) order() string {
	if d.kind == localstate.KindSQLite {
		return "rowid"
	}
	return "seq"
}
