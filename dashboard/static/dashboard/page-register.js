import { login, register } from "./api.js";
import { $, clearErrors, showErrors, startPage } from "./shell.js";

const form = $("#register");

function validate() {
  const errors = {};
  if (!form.email.value.trim()) errors.email = ["Enter your email address."];
  if (!form.username.value.trim()) errors.username = ["Choose a username."];
  if (!form.password.value) errors.password = ["Choose a password."];
  return Object.keys(errors).length ? errors : null;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const errors = validate();
  if (errors) {
    showErrors(form, { body: { detail: "Please fill in every field.", ...errors } });
    return;
  }
  clearErrors(form);
  const button = $("button[type=submit]", form);
  button.disabled = true;
  const credentials = { email: form.email.value.trim(), password: form.password.value };
  try {
    await register({ ...credentials, username: form.username.value.trim() });
  } catch (error) {
    showErrors(form, error);
    button.disabled = false;
    return;
  }
  try {
    await login(credentials);
    window.location.assign("/dashboard");
  } catch {
    window.location.assign("/login?registered=1");
  }
});

startPage({
  onSignedIn: () => window.location.replace("/dashboard"),
  onSignedOut: () => form.email.focus(),
});
