/* 接访 · 可选的渐进增强脚本。页面在没有本脚本时功能完整。
   - <form data-confirm="确定要删除吗？">：提交前弹出确认框。
   - <button data-confirm="…"> 或 <a data-confirm="…">：点击前弹出确认框。
   - 表单提交后暂时禁用其提交按钮，避免重复提交。
   - 页面含 .form-errors 时，将焦点移到该摘要框。 */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;

    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) ||
      form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      return;
    }

    if (form.method.toLowerCase() === "post") {
      if (form.getAttribute("data-submitting") === "1") {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-submitting", "1");
      // 稍后恢复，防止浏览器“返回”后按钮仍不可用
      window.setTimeout(function () { form.removeAttribute("data-submitting"); }, 8000);
    }
  });

  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("a[data-confirm]") : null;
    if (!el) return;
    if (!window.confirm(el.getAttribute("data-confirm"))) event.preventDefault();
  });

  window.addEventListener("pageshow", function () {
    var forms = document.querySelectorAll("form[data-submitting]");
    for (var i = 0; i < forms.length; i++) forms[i].removeAttribute("data-submitting");
  });

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".form-errors");
    if (summary && typeof summary.focus === "function") summary.focus();
  });
})();
