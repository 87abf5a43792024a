package rest

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The rest: section is decoded from its YAML node into typed values: YAML's
// own features (anchors, merge keys) work, a value of the wrong YAML type is
// named as written, a key given as null counts as present where that
// matters, and each error names the line of its key.
func TestDecodeConfigFromYAML(t *testing.T) {
	decode := func(src string) (*Config, error) {
		t.Helper()
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		cfg, err := DecodeConfig(doc.Content[0], "app.yaml")
		if err != nil {
			return nil, err
		}
		return cfg.(*Config), nil
	}
	cfg, err := decode(`base_url: https://api.example.com
resources:
  users: &res
    list_path: /users
    id_path: id
    get_path: /users/{id}
    pagination: {style: page, per_page: 50}
  admins:
    <<: *res
    list_path: /admins
`)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Resources["admins"]; a == nil || a.ListPath != "/admins" || a.GetPath != "/users/{id}" || a.Pagination.PerPage != 50 {
		t.Errorf("merged resource: %+v", a)
	}
	_, err = decode(`base_url: https://api.example.com
resources:
  users:
    list_path: /users
    id_path:
    get_path: /users/{id}
    pagination:
      style: page
      per_page: "50"
events:
  path: /events
  id_path: id
  type_path: type
  time_path: at
  object_path: data
  types:
    user.deleted: {resource: users, delete: 1}
`)
	for _, want := range []string{
		"app.yaml:5: rest.resources.users.id_path: missing (required)",
		"app.yaml:5: rest.resources.users.id_path: empty: name the field holding the id (e.g. id)",
		`app.yaml:9: rest.resources.users.pagination.per_page: want a whole number, got string "50"`,
		`app.yaml:16: rest.events.types["user.deleted"].delete: want true or false, got number 1`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\nlacks\n%s", err, want)
		}
	}
}
