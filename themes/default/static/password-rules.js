// The new-password form (set_password.html): marks each listed rule met or unmet while the
// person types, so a broken rule shows before the form is sent. Progressive enhancement
// only: without this script the list still shows every rule, and the server checks them
// all on submit (careid-policy's `password::check`), including the common-password list,
// which stays on the server and so is not marked here.
(function () {
  "use strict";
  var form = document.querySelector("form[data-password-rules]");
  if (!form) {
    return;
  }
  var password = form.querySelector("#password");
  var confirmation = form.querySelector("#confirmation");
  var email = form.elements.namedItem("email");
  var minLength = Number(form.getAttribute("data-min-length")) || 0;

  // The same character classes as the server's checks (Rust's char methods).
  var checks = {
    too_short: function (p) { return Array.from(p).length >= minLength; },
    no_digit: function (p) { return /\p{N}/u.test(p); },
    no_uppercase: function (p) { return /\p{Uppercase}/u.test(p); },
    no_symbol: function (p) {
      return /[^\p{Alphabetic}\p{N}\p{White_Space}\p{Cc}]/u.test(p);
    },
    contains_email_name: function (p) {
      var address = email && email.value ? email.value : "";
      var at = address.lastIndexOf("@");
      var name = (at >= 0 ? address.slice(0, at) : address).trim().toLowerCase();
      return Array.from(name).length < 3 || p.toLowerCase().indexOf(name) < 0;
    },
    mismatch: function (p, c) { return p.length > 0 && p === c; },
  };

  var items = document.querySelectorAll("#password-rules li[data-rule]");
  function update() {
    items.forEach(function (item) {
      var check = checks[item.getAttribute("data-rule")];
      if (!check) {
        return;
      }
      var met = check(password.value, confirmation.value);
      item.classList.toggle("met", met);
      item.classList.toggle("unmet", !met);
      item.querySelector(".rule-state").textContent = met ? "Done: " : "Not yet: ";
    });
  }
  password.addEventListener("input", update);
  confirmation.addEventListener("input", update);
  if (email) {
    email.addEventListener("input", update);
  }
})();
