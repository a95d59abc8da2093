package dicomweb

import "testing"

func FuzzDICOMJSON(f *testing.F) {
	f.Add([]byte(`[{"0020000D":{"vr":"UI","Value":["1.2.3"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"A^B"}]},"00081199":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1"]}}]}}]`))
	f.Add([]byte(`{"00081198":{"vr":"SQ","Value":[{"00081197":{"vr":"US","Value":[292]}}]}}`))
	f.Add([]byte(`[[[[]]]]`))
	f.Add([]byte(`{"00081198":{"vr":"SQ","Value":[{"00081197":{"vr":"US","Value":[262]},"00001005":{"vr":"LO","Value":["2097168","524320","x",null]}}]}}`))
	f.Add([]byte(`{"00081198":{"vr":"SQ","Value":[{"00081197":{"vr":"US","Value":[262]},"00001005":{"vr":"AT","Value":["00200010","zz"]}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if ds, err := parseDatasets(data); err == nil {
			for _, d := range ds {
				for tag := range d {
					_ = d.String(tag)
					_ = d.Strings(tag)
					_, _ = d.Int(tag)
					_ = d.Items(tag)
				}
			}
		}
		if res, err := parseStoreResponse(data); err == nil {
			for _, f := range res.Failed {
				_ = (&StoreError{Failed: []FailedInstance{f}}).Error()
			}
		}
	})
}
