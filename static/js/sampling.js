// The draw form's live preview: the server computes the population, n and the margin
// n buys for the values typed so far. Without JavaScript the "Preview" button does it.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-preview]");
  const out = document.getElementById("draw-preview");
  if (!form || !out) {
    return;
  }
  let timer = null;
  let latest = 0;
  const refresh = () => {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (name !== "csrf_token" && typeof value === "string") {
        params.append(name, value);
      }
    }
    if (!params.get("vendor") || !params.get("period_start") || !params.get("period_end")) {
      return;
    }
    const ticket = ++latest;
    fetch(`${form.dataset.preview}?${params}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((response) => response.json())
      .then((body) => {
        if (ticket !== latest) {
          return; // an older answer arriving late
        }
        if (body.text) {
          out.innerHTML = body.text; // rendered (and escaped) by the server's template
        } else {
          out.textContent = body.error || "No preview for these values.";
        }
      })
      .catch(() => {
        out.textContent = "The preview is unavailable; use the Preview button.";
      });
  };
  const schedule = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 350);
  };
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
});
