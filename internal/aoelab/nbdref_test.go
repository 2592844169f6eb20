package aoelab

import "testing"

func TestFioReadIOPS(t *testing.T) {
	for _, c := range []struct {
		out  string
		iops float64
		ok   bool
	}{
		{`{"fio version": "fio-3.33", "jobs": [{"jobname": "r", "read": {"io_bytes": 4096, "iops": 1234.5}}]}`, 1234.5, true},
		{"fio: connected to NBD server\n" + `{"jobs": [{"read": {"iops": 17}}, {"read": {"iops": 3}}]}`, 17, true},
		{`{"jobs": []}`, 0, false},
		{"fio: engine nbd not loadable\n", 0, false},
	} {
		iops, err := FioReadIOPS([]byte(c.out))
		if (err == nil) != c.ok || iops != c.iops {
			t.Errorf("FioReadIOPS(%q) = %v, %v; want %v (ok %v)", c.out, iops, err, c.iops, c.ok)
		}
	}
}
