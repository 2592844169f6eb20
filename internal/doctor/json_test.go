package doctor

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
)

func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// TestJSONSameFields: each object has the same fields whatever was seen
// (docs/json.md); what is unknown is null, never "" or left out.
func TestJSONSameFields(t *testing.T) {
	full := healthy()
	full.Links[0].Master = "br0"
	full.Wire.Targets[0].Paths[0].IdentifyErr, full.Wire.Targets[0].Paths[0].MaskErr, full.Wire.Targets[0].Paths[0].ReserveErr = "x", "y", "z"
	full.Driver.Missing, full.Wire.Missing, full.Boot.Missing, full.Driver.Dyndevs = "a", "b", "c", "1"
	for _, c := range []struct{ full, empty any }{
		{full.Driver, DriverView{}},
		{full.Driver.Devices[0], DriverDevice{}},
		{full.Wire, WireView{}},
		{full.Wire.Targets[0].Paths[0], WirePath{}},
		{full.Links[0], Link{}},
		{full.Boot, BootView{}},
		{Finding{Next: "n"}, Finding{}},
	} {
		if k1, k2 := jsonKeys(t, c.full), jsonKeys(t, c.empty); !reflect.DeepEqual(k1, k2) {
			t.Errorf("%T: %v vs empty %v", c.full, k1, k2)
		}
	}
	b, _ := json.Marshal(WirePath{})
	want := `{"interface":"","mac":"","self":"","local_mtu":0,"buffers":0,"firmware":"","sectors_per_frame":0,"silent":false,"measured":false,"carried_sectors":0,"serial":null,"model":null,"sectors":null,"identify_error":null,"mask":null,"mask_error":null,"reserve":null,"reserve_error":null}`
	if string(b) != want {
		t.Errorf("empty path:\n%s\nwant\n%s", b, want)
	}
	var f Finding
	if err := json.Unmarshal([]byte(`{"device":"e1.2","cause":"mtu","severity":"cause","detail":"d","next":null}`), &f); err != nil || f.Next != "" || f.Severity != SeverityCause {
		t.Errorf("%+v %v", f, err)
	}
}
