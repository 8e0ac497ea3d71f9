// A camera event's evidence: a small lazy thumbnail for an http(s) URI (a click opens the full
// image in a new tab), the URI as text otherwise (s3:// and the like are not for the browser).

import { t } from "./i18n.js";
import { h } from "./dom.js";

export function isWebUri(uri) {
  return /^https?:\/\//i.test(String(uri || ""));
}

// `language`: as i18n's t (the patrol app switches without a reload).
export function evidenceList(evidence, what = "", language = undefined) {
  const items = Array.isArray(evidence) ? evidence.filter((e) => e && e.uri) : [];
  if (!items.length) return null;
  return h("span", { class: "evidence" }, items.map((e, i) => evidenceItem(e, i, what, language)));
}

function evidenceItem(e, i, what, language) {
  if (!isWebUri(e.uri)) return h("span", { class: "evidence-uri mono", title: e.sha256 || "" }, e.uri);
  const alt = t({ zh: `证据图 ${i + 1} ${what}`.trim(), en: `evidence image ${i + 1} ${what}`.trim() }, language);
  return h("a", { href: e.uri, target: "_blank", rel: "noopener noreferrer", title: e.uri },
    h("img", { class: "evidence-thumb", src: e.uri, alt, loading: "lazy", width: 96, height: 64 }));
}
