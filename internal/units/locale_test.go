package units

import (
	"testing"
	"time"
)

func TestLocaleCharset(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		utf8 bool
	}{
		{map[string]string{}, false},
		{map[string]string{"LANG": "en_US.UTF-8"}, true},
		{map[string]string{"LANG": "en_US.utf8"}, true},
		{map[string]string{"LANG": "C.UTF-8"}, true},
		{map[string]string{"LANG": "de_DE.UTF-8@euro"}, true},
		{map[string]string{"LANG": "C"}, false},
		{map[string]string{"LANG": "POSIX"}, false},
		{map[string]string{"LANG": "en_US"}, false},
		{map[string]string{"LANG": "en_US.ISO-8859-1"}, false},
		{map[string]string{"LANG": "ja_JP.eucJP"}, false},
		// LC_ALL wins over LC_CTYPE, which wins over LANG.
		{map[string]string{"LC_ALL": "C", "LC_CTYPE": "en_US.UTF-8", "LANG": "en_US.UTF-8"}, false},
		{map[string]string{"LC_ALL": "en_US.UTF-8", "LC_CTYPE": "C", "LANG": "C"}, true},
		{map[string]string{"LC_CTYPE": "C", "LANG": "en_US.UTF-8"}, false},
		{map[string]string{"LC_CTYPE": "en_US.UTF-8", "LANG": "C"}, true},
		// Empty is unset.
		{map[string]string{"LC_ALL": "", "LC_CTYPE": "", "LANG": "en_US.UTF-8"}, true},
		// LC_MESSAGES does not choose the charset.
		{map[string]string{"LC_MESSAGES": "en_US.UTF-8"}, false},
	} {
		got := LocaleCharset(func(k string) string { return c.env[k] })
		if got.UTF8 != c.utf8 {
			t.Errorf("%v: UTF8 %v, want %v", c.env, got.UTF8, c.utf8)
		}
	}
}

func TestCharsetText(t *testing.T) {
	utf8, ascii := Charset{UTF8: true}, Charset{}
	if utf8.Ellipsis() != "…" || ascii.Ellipsis() != "..." {
		t.Errorf("ellipsis %q %q", utf8.Ellipsis(), ascii.Ellipsis())
	}
	d := (1500 * time.Microsecond / 10).String() // "150µs"
	for in, want := range map[string]string{
		"waited " + d:          "waited 150us",
		"rack-3 beyond thirt…": "rack-3 beyond thirt...",
		"ünïcödé":              "ünïcödé", // data is not ours to change
		"plain":                "plain",
		"5μs":                  "5us",
	} {
		if got := ascii.Text(in); got != want {
			t.Errorf("ASCII Text(%q) = %q, want %q", in, got, want)
		}
		if got := utf8.Text(in); got != in {
			t.Errorf("UTF-8 Text(%q) = %q", in, got)
		}
	}
}
