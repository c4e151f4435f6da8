// Passkeys (WebAuthn): the forms marked `data-passkey` on the passkeys page ("create")
// and the sign-in pages ("get"). On submit the form is first posted to its
// `data-options` endpoint (the same CSRF token and request), which answers with a
// ceremony handle and WebAuthn's options; the browser's navigator.credentials then makes
// or uses the passkey, and the answer goes back in the form's hidden `credential` field.
// The server checks everything (webauthn-rs); this script only carries bytes.
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBytes(item.id) });
    });
  }

  function create(options) {
    var publicKey = Object.assign({}, options.publicKey, {
      challenge: toBytes(options.publicKey.challenge),
      user: Object.assign({}, options.publicKey.user, {
        id: toBytes(options.publicKey.user.id)
      }),
      excludeCredentials: withIds(options.publicKey.excludeCredentials)
    });
    return navigator.credentials.create({ publicKey: publicKey }).then(function (made) {
      return {
        id: made.id,
        rawId: toBase64url(made.rawId),
        type: made.type,
        response: {
          clientDataJSON: toBase64url(made.response.clientDataJSON),
          attestationObject: toBase64url(made.response.attestationObject)
        },
        extensions: made.getClientExtensionResults()
      };
    });
  }

  function get(options) {
    var publicKey = Object.assign({}, options.publicKey, {
      challenge: toBytes(options.publicKey.challenge),
      allowCredentials: withIds(options.publicKey.allowCredentials)
    });
    return navigator.credentials.get({ publicKey: publicKey }).then(function (used) {
      var handle = used.response.userHandle;
      return {
        id: used.id,
        rawId: toBase64url(used.rawId),
        type: used.type,
        response: {
          authenticatorData: toBase64url(used.response.authenticatorData),
          clientDataJSON: toBase64url(used.response.clientDataJSON),
          signature: toBase64url(used.response.signature),
          userHandle: handle ? toBase64url(handle) : null
        },
        extensions: used.getClientExtensionResults()
      };
    });
  }

  function show(form, text) {
    var problem = form.querySelector("[data-passkey-problem]");
    if (problem) {
      problem.textContent = text;
      problem.hidden = false;
    }
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!window.PublicKeyCredential || !navigator.credentials) {
        show(form, "This browser cannot use passkeys. Try another browser or sign in another way.");
        return;
      }
      var kind = form.getAttribute("data-passkey");
      fetch(form.getAttribute("data-options"), {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(form))
      })
        .then(function (answer) {
          if (!answer.ok) {
            throw new Error("options refused");
          }
          return answer.json();
        })
        .then(function (options) {
          form.elements.namedItem("ceremony").value = options.ceremony;
          return kind === "create" ? create(options) : get(options);
        })
        .then(function (credential) {
          form.elements.namedItem("credential").value = JSON.stringify(credential);
          form.submit();
        })
        .catch(function () {
          show(form, "The passkey was not used: it was cancelled, took too long, or this page is out of date. Reload the page and try again.");
        });
    });
  });
})();
