import { login } from "./api.js";
import { $, clearErrors, nextPath, showErrors, startPage } from "./shell.js";

const form = $("#login");

function validate() {
  const errors = {};
  if (!form.email.value.trim()) errors.email = ["Enter your email address."];
  if (!form.password.value) errors.password = ["Enter your password."];
  return Object.keys(errors).length ? errors : null;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const errors = validate();
  if (errors) {
    showErrors(form, { body: { detail: "Please fill in both fields.", ...errors } });
    return;
  }
  clearErrors(form);
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    await login({ email: form.email.value.trim(), password: form.password.value });
    window.location.assign(nextPath());
  } catch (error) {
    form.password.value = "";
    showErrors(form, error);
    button.disabled = false;
  }
});

const params = new URLSearchParams(window.location.search);
const notice = $("#login-notice");
if (params.has("signed_out")) {
  notice.textContent = "You have signed out.";
  notice.hidden = false;
} else if (params.has("registered")) {
  notice.textContent = "Your account is ready. Log in to continue.";
  notice.hidden = false;
}

startPage({
  onSignedIn: () => window.location.replace(nextPath()),
  onSignedOut: () => form.email.focus(),
});
