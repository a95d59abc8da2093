// Builds the uploader request bodies from the fixtures exactly as Aura's
// standalone uploader does (src/api/client.ts, AuraloaderEngine.studiesInfo)
// and prints them, one "name<TAB>json" line each, so that
// TestGoldenMatchesJSONStringify can compare them with the Go goldens.
// Run: node uploader/testdata/stringify.mjs
import { readFileSync } from "node:fs";
const dir = new URL(".", import.meta.url);
const initCases = JSON.parse(readFileSync(new URL("init_cases.json", dir)));
const lifeCases = JSON.parse(readFileSync(new URL("lifecycle_cases.json", dir)));

const orNull = (v) => (v === "" || v === undefined ? null : v);
for (const c of initCases) {
  const studies = {};
  for (const s of c.studies) {
    const series = {};
    for (const se of s.series) {
      series[se.uid] = {
        study_instance_uid: s.uid,
        series_instance_uid: se.uid,
        modality: orNull(se.modality),
        series_description: orNull(se.description),
        body_part_examined: orNull(se.body_part),
        series_date: orNull(se.date),
        series_time: orNull(se.time),
        study_date: orNull(se.study_date),
        series_number: orNull(se.number),
      };
    }
    studies[s.uid] = {
      study_uid: s.uid,
      study_description: s.description ?? "",
      institution_name: s.institution ?? "",
      patient_id: s.patient_id ?? "",
      patient_name: s.patient_name ?? "",
      study_date: s.date ?? "",
      study_time: s.time ?? "",
      modalities: s.modalities,
      series,
      images: s.images,
      series_count: Object.keys(series).length,
    };
  }
  const body = {
    upload_id: c.upload_id,
    studies,
    mode: "bulk",
    type: "uploader",
    source: c.source || "standalone-uploader",
    patient_id: c.patient_id || null,
    context: c.context === null ? undefined : c.context,
  };
  console.log("init-" + c.name + "\t" + JSON.stringify(body));
}
for (const c of lifeCases) {
  let body;
  switch (c.call) {
    case "start":
    case "complete":
      body = { upload_id: c.upload_id, assembly_id: c.value, mode: "uploader" };
      break;
    case "error":
      body = { upload_id: c.upload_id, message: c.value, mode: "uploader" };
      break;
    case "cancel":
      body = { upload_id: c.upload_id, mode: "uploader" };
      break;
  }
  console.log(c.name + "\t" + JSON.stringify(body));
}
