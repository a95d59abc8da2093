package uploader

import "github.com/dicombridge/dicombridge/dicomscan"

// studiesFromScan builds the init "studies" entries from scanned studies,
// as the reference client does (docs/uploader.md, "Studies in init"): study
// values from the study's first file (the description from the first file
// that has one), modalities once each in series order, series values from
// each series' first file, images = the number of files (each SOP instance
// once: dicomscan skips duplicates).
func studiesFromScan(studies []*dicomscan.Study) []Study {
	out := make([]Study, 0, len(studies))
	for _, st := range studies {
		s := Study{
			UID:             st.StudyInstanceUID,
			Description:     st.StudyDescription,
			InstitutionName: st.InstitutionName,
			PatientID:       st.PatientID,
			PatientName:     st.PatientName,
			Date:            st.StudyDate,
			Time:            st.StudyTime,
			Modalities:      append([]string{}, st.Modalities...),
			Images:          st.Instances(),
			Series:          make([]Series, 0, len(st.Series)),
		}
		for _, se := range st.Series {
			s.Series = append(s.Series, Series{
				UID:              se.SeriesInstanceUID,
				Modality:         se.Modality,
				Description:      se.SeriesDescription,
				BodyPartExamined: se.BodyPartExamined,
				Date:             se.SeriesDate,
				Time:             se.SeriesTime,
				StudyDate:        se.StudyDate,
				Number:           se.SeriesNumber,
			})
		}
		out = append(out, s)
	}
	return out
}
