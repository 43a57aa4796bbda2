// Small progressive enhancements; every page works without this script.
document.addEventListener("DOMContentLoaded", () => {
  // the switched role's colour, from its data attribute (the CSP allows no inline styles)
  for (const badge of document.querySelectorAll("[data-colour]")) {
    badge.style.setProperty("--role-colour", badge.dataset.colour);
  }
  // ask before a destructive action
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
