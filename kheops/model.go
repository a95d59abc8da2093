package kheops

import "encoding/json"

// Study is a study as KHEOPS describes it in JSON (webhook bodies carry
// one). Fields absent from a document keep their zero value. DICOM dates
// and times are kept as KHEOPS sends them (DA "YYYYMMDD", TM "HHMMSS...").
type Study struct {
	PatientName            string   `json:"patient_name,omitempty"`
	PatientID              string   `json:"patient_ID,omitempty"`
	StudyUID               string   `json:"study_uid,omitempty"`
	StudyDate              string   `json:"study_date,omitempty"`
	StudyTime              string   `json:"study_time,omitempty"`
	TimezoneOffsetFromUTC  string   `json:"timezone_offset_from_utc,omitempty"`
	StudyDescription       string   `json:"study_description,omitempty"`
	StudyID                string   `json:"study_id,omitempty"`
	AccessionNumber        string   `json:"accession_number,omitempty"`
	ReferringPhysicianName string   `json:"referring_physician_name,omitempty"`
	PatientBirthDate       string   `json:"patient_birth_date,omitempty"`
	PatientSex             string   `json:"patient_sex,omitempty"`
	RetrieveURL            string   `json:"retrieve_url,omitempty"`
	Series                 []Series `json:"series,omitempty"`
}

// Series is a series as KHEOPS describes it in JSON, inside a [Study].
type Series struct {
	Modality                       string `json:"modality,omitempty"`
	SeriesDescription              string `json:"series_description,omitempty"`
	SeriesUID                      string `json:"series_uid,omitempty"`
	NumberOfSeriesRelatedInstances int    `json:"number_of_series_related_instances,omitempty"`
	TimeZoneOffsetFromUTC          string `json:"time_zone_offset_from_utc,omitempty"`
	SeriesNumber                   int    `json:"series_number,omitempty"`
	BodyPartExamined               string `json:"body_part_examined,omitempty"`
	RetrieveURL                    string `json:"retrieve_url,omitempty"`
	// NumberOfNewInstances is set in webhook bodies: how many instances
	// of the series the event added.
	NumberOfNewInstances int `json:"number_of_new_instances,omitempty"`
}

// User is a KHEOPS user as described in JSON: the member a new_user event
// adds, or the source of an event. When the actor was a report provider
// or a capability token rather than a person, ReportProvider or
// CapabilityToken says which.
type User struct {
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	Sub   string `json:"sub,omitempty"`
	// ReportProvider is set when a report provider acted for the user.
	ReportProvider *ReportProvider `json:"report_provider,omitempty"`
	// CapabilityToken is the capability token's JSON document, as KHEOPS
	// sent it, when the actor used a capability token; nil otherwise. It
	// never holds the token's secret.
	CapabilityToken json.RawMessage `json:"capability_token,omitempty"`
}

// ReportProvider names a report provider in a [User].
type ReportProvider struct {
	Name      string `json:"name,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	IsRemoved bool   `json:"is_removed,omitempty"`
}
