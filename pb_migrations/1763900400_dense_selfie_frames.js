/// <reference path="../.ekyc/pb_data/types.d.ts" />
// The hosted flow captures the liveness challenge densely (12 frames a second, 480 px; see
// gateway/services/capture_rules.py SelfieCapture): a three-prompt challenge is ~100 frames and
// the longest one the partner settings allow (6 prompts) at most 242, where the field held 40.
// Each frame stays small (~20-30 KB), so the per-file size limit is unchanged; the whole upload
// is bounded by the challenge's byte budget (3 MB) in the gateway.
const DENSE_MAX_SELECT = 250;
const SPARSE_MAX_SELECT = 40;

function setMaxSelect(app, value) {
  const profiles = app.findCollectionByNameOrId("profiles");
  profiles.fields.getByName("selfie_frames").maxSelect = value;
  app.save(profiles);
}

migrate(
  (app) => setMaxSelect(app, DENSE_MAX_SELECT),
  // Down: profiles holding more than 40 frames keep their files; only new uploads are bounded.
  (app) => setMaxSelect(app, SPARSE_MAX_SELECT),
);
