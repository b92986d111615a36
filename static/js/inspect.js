// The inspection form: Ctrl+Enter (Cmd+Enter) finalises and moves on; choosing
// "approve" clears the labels, which an approve never has.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-inspect-form]");
  if (!form) return;
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const button = form.querySelector("[data-shortcut=finalise]");
      if (button) {
        event.preventDefault();
        form.requestSubmit(button);
      }
    }
  });
  form.querySelectorAll("input[name=expected_decision]").forEach((radio) => {
    radio.addEventListener("change", () => {
      if (radio.checked && radio.value === "approve") {
        const primary = form.querySelector("select[name=primary_label]");
        if (primary) primary.value = "";
        form.querySelectorAll("input[name=other_labels]").forEach((box) => {
          box.checked = false;
        });
      }
    });
  });
});
