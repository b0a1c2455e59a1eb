package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/web"
)

// TestUIConfig: the page's settings are served as JSON, and the CSP lets
// the page show the configured logos and no other remote image.
func TestUIConfig(t *testing.T) {
	h := web.NewHandler(web.UI{
		VerdictTimeout: 4 * time.Second,
		Sound:          true,
		Profiles: map[string]web.ProfileDisplay{
			"shoes": {Name: "Acme running shoes", LogoURL: "https://Brand.example/logo.svg"},
			"bags":  {Name: "Acme bags", LogoURL: "https://brand.example/bags.png"},
			"plain": {Name: "No logo"},
		},
	})
	res := get(t, h, http.MethodGet, web.UIConfigPath, nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %q", web.UIConfigPath, res.StatusCode, res.Header.Get("Content-Type"))
	}
	var got struct {
		VerdictTimeoutMS int64                        `json:"verdict_timeout_ms"`
		Sound            bool                         `json:"sound"`
		Profiles         map[string]map[string]string `json:"profiles"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if got.VerdictTimeoutMS != 4000 || !got.Sound || got.Profiles["shoes"]["display_name"] != "Acme running shoes" ||
		got.Profiles["plain"]["logo_url"] != "" || len(got.Profiles) != 3 {
		t.Errorf("ui-config = %s", body)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "img-src 'self' data: https://brand.example;") {
		t.Errorf("CSP %q does not allow exactly the logos' origin", csp)
	}
	if res := get(t, h, http.MethodGet, "/", nil); res.Header.Get("Content-Security-Policy") != csp {
		t.Errorf("the page's CSP differs from the settings'")
	}

	res = get(t, web.Handler(), http.MethodGet, web.UIConfigPath, nil)
	body, _ = io.ReadAll(res.Body)
	if string(body) != `{"verdict_timeout_ms":10000,"sound":false,"profiles":{}}` {
		t.Errorf("default ui-config = %s", body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); csp != web.ContentSecurityPolicy {
		t.Errorf("default CSP = %q", csp)
	}
}
