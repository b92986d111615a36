// The job page follows its job: while it is queued or running, poll the job's status
// every second and update the badge, stage, bar and text; reload once it is done so
// the result (or the problems) show. No inline script: the CSP forbids it.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-job-status-url]");
  if (!box || box.dataset.jobDone === "true") {
    return;
  }
  const url = box.dataset.jobStatusUrl;
  const badge = box.querySelector("[data-job-state]");
  const stage = box.querySelector("[data-job-stage]");
  const bar = box.querySelector("[data-job-bar]");
  const text = box.querySelector("[data-job-text]");
  const colours = { queued: "secondary", running: "primary", succeeded: "success", failed: "danger" };

  const show = (status) => {
    badge.textContent = status.state;
    badge.className = "badge text-bg-" + (colours[status.state] || "secondary");
    stage.textContent = status.stage;
    text.textContent = status.text;
    if (status.total) {
      bar.max = status.total;
      bar.value = status.progress;
    } else {
      bar.removeAttribute("value"); // an indeterminate bar: the total is not known yet
    }
  };

  const tick = async () => {
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.ok) {
        const status = await response.json();
        if (status.done) {
          window.location.reload();
          return;
        }
        show(status);
      }
    } catch (error) {
      // A dropped connection: try again at the next tick.
    }
    window.setTimeout(tick, 1000);
  };
  window.setTimeout(tick, 1000);
});
