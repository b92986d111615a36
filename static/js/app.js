// Small progressive enhancements. No inline scripts: the CSP forbids them.
document.addEventListener("DOMContentLoaded", () => {
  // Forms (or buttons) with data-confirm ask before a destructive action.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });
  // Select-on-focus for values people copy (tokens shown once).
  document.querySelectorAll("[data-select-on-focus]").forEach((el) => {
    el.addEventListener("focus", () => el.select());
  });
  // Copy buttons: data-copy names the field whose value is copied.
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const field = document.querySelector(button.dataset.copy);
      const label = button.querySelector("[data-copy-label]") || button;
      try {
        await navigator.clipboard.writeText(field.value);
        label.textContent = "Copied";
      } catch {
        // No clipboard access (an insecure origin or a refusal): select it for Ctrl+C.
        field.focus();
        field.select();
        label.textContent = "Press Ctrl+C";
      }
      window.setTimeout(() => { label.textContent = "Copy"; }, 2000);
    });
  });
  // Filter forms submit when a select changes.
  document.querySelectorAll("form[data-autosubmit] select").forEach((el) => {
    el.addEventListener("change", () => el.form.requestSubmit());
  });
});
