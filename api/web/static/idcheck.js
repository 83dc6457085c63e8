// Checks an identity number's last character (GB 11643) as it is typed; the server checks it again.
(function () {
  var weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var codes = "10X98765432";
  function valid(value) {
    if (!/^\d{17}[\dX]$/.test(value)) { return false; }
    var sum = 0;
    for (var i = 0; i < 17; i++) { sum += Number(value.charAt(i)) * weights[i]; }
    return codes.charAt(sum % 11) === value.charAt(17);
  }
  function check(input) {
    var value = input.value.trim().toUpperCase();
    var note = document.getElementById(input.id + "-typed");
    if (!note) { return; }
    var wrong = value.length === 18 && !valid(value);
    note.hidden = !wrong;
    note.textContent = wrong ? input.getAttribute("data-message") : "";
    if (wrong) { input.setAttribute("aria-invalid", "true"); } else if (!input.closest(".field-error")) { input.removeAttribute("aria-invalid"); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var inputs = document.querySelectorAll("[data-id-number]");
    for (var i = 0; i < inputs.length; i++) {
      inputs[i].addEventListener("input", function (e) { check(e.target); });
      inputs[i].addEventListener("blur", function (e) { check(e.target); });
    }
  });
})();
