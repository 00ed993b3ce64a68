// 泉港区社会救助兜底保障 · 工作看板 — the dashboard's script (no third-party code).
//
// Signs in through POST /oauth/token (password grant) and reads the gateway's API with the token:
// the demo clock, the KPI report, relief cases at risk / breached, payment runs. Every element is
// built with createElement/textContent (never innerHTML), so API strings cannot become markup.
// Every figure carries data-kpi="<area_code>:<kpi_id>", data-field and data-raw (the API's value).
"use strict";

(function () {
  const TOKEN_KEY = "qg.dashboard.token";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PAGE_LIMIT = 200;
  const MAX_PAGES = 5;
  const STAFF_ROLES = ["district_admin", "district_approver", "town_approver", "town_caseworker", "care_worker", "auditor"];
  const ROLE_LABELS = {
    district_admin: "区级管理员", district_approver: "区级审批人员", town_approver: "镇（街道）审批人员",
    town_caseworker: "镇（街道）经办人员", care_worker: "关爱服务人员", auditor: "审计人员",
  };
  const SOURCE_LABELS = {
    eligibility: "低保特困审批", relief: "临时救助", care: "特困供养与关爱服务", subsidy: "补贴发放", wishes: "微心愿",
  };
  const LEVEL_LABELS = { district: "全区", town: "镇（街道）" };
  const CASE_KINDS = { emergency: "急难型", expenditure: "支出型" };
  const CASE_STATUSES = {
    suggested: "建议救助", open: "已受理", approved: "已审批", paid: "已发放", refused: "不予救助", referred: "已转介",
  };
  const SLA_STATES = { at_risk: "即将超时", breached: "已超时", on_track: "正常", met: "按时办结", not_applicable: "不适用" };
  const RUN_GROUPS = {
    assistance: "低保特困", disability: "残疾人两项补贴", children: "孤儿与困境儿童", veterans: "优抚对象",
    price: "价格临时补贴", housing: "安居工程",
  };
  const RUN_STATUSES = { created: "已创建", checked: "已比对", approved: "已审核", issued: "已发盘", reconciled: "已对账" };
  // Charts: one bar per area for these KPIs; the wishes get one chart of their three counts.
  const CHART_KPIS = ["dibao_coverage", "relief_sla_compliance", "reserve_fund_usage", "centralized_rate", "visits_on_time"];
  const WISH_KPIS = ["wishes_published", "wishes_adopted", "wishes_fulfilled"];
  const WISH_LABELS = { wishes_published: "发布", wishes_adopted: "认领", wishes_fulfilled: "实现" };

  const state = { token: null, claims: null, year: null, areaNames: {}, loading: 0 };

  // -- small helpers ------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    }
  }

  function append(node, children) {
    if (children === undefined || children === null) return;
    for (const child of Array.isArray(children) ? children : [children]) {
      if (child === undefined || child === null) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function show(node, visible) { node.hidden = !visible; }

  function message(node, text) {
    node.textContent = text || "";
    show(node, Boolean(text));
  }

  function raw(value) { return value === null || value === undefined ? "" : String(value); }

  // A KPI figure as shown: "—" when missing; a ratio as a percentage with 2 places.
  function formatFigure(value, unit) {
    if (value === null || value === undefined || value === "") return "—";
    if (unit === "ratio") return (Math.round(Number(value) * 10000) / 100).toFixed(2) + "%";
    if (unit === "percent") return String(value) + "%";
    return String(value);
  }

  function formatMet(met) {
    if (met === true) return "达标";
    if (met === false) return "未达标";
    return "—";
  }

  // RFC 3339 instant → "YYYY-MM-DD HH:MM" in Asia/Shanghai (UTC+8, no daylight saving).
  function shanghai(instant) {
    if (!instant) return "—";
    const ms = Date.parse(instant);
    if (Number.isNaN(ms)) return String(instant);
    const d = new Date(ms + 8 * 3600 * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  }

  function shanghaiYear(instant) {
    return new Date(Date.parse(instant) + 8 * 3600 * 1000).getUTCFullYear();
  }

  // The claims of a JWT (for the roles and town only; the gateway verifies the token itself).
  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(part + "===".slice((part.length + 3) % 4)), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }

  function isStaff(claims) {
    return Boolean(claims && Array.isArray(claims.roles) && claims.roles.some((r) => STAFF_ROLES.includes(r)));
  }

  // -- API ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super(`HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  class SignedOut extends Error {}

  function explain(error, what) {
    if (error instanceof ApiError) {
      if (error.status === 403) return `当前账号无权查看${what}。`;
      if (error.status === 404) return `未找到${what}（不在本账号的辖区内，或服务尚未提供）。`;
      if (error.status === 429) return "请求过于频繁，请稍后再试。";
      if (error.status === 502 || error.status === 503 || error.status === 504) return `${what}所在的服务暂时不可用，请稍后刷新。`;
      return `${what}加载失败（HTTP ${error.status}）。`;
    }
    return `无法连接网关，${what}未能加载。`;
  }

  async function apiGet(path, params) {
    const query = params ? "?" + new URLSearchParams(params).toString() : "";
    const response = await fetch(path + query, {
      headers: { Authorization: "Bearer " + state.token, Accept: "application/json" },
      cache: "no-store", credentials: "omit",
    });
    if (response.status === 401) {
      signOut("登录已过期或无效，请重新登录。");
      throw new SignedOut();
    }
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  // Every item of a paginated list (at most MAX_PAGES pages); the filters go in ``params``.
  async function apiList(path, params) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = { ...params, limit: String(PAGE_LIMIT) };
      if (cursor) query.cursor = cursor;
      const body = await apiGet(path, query);
      items.push(...body.items);
      cursor = body.next_cursor;
      if (!cursor) return { items, more: false };
    }
    return { items, more: true };
  }

  // -- sign-in ------------------------------------------------------------------------------

  async function signIn(event) {
    event.preventDefault();
    const username = $("username").value.trim();
    const password = $("password").value;
    const error = $("login-error");
    message(error, "");
    if (!username || !password) {
      message(error, "请输入用户名和密码。");
      return;
    }
    const button = $("login-button");
    button.disabled = true;
    try {
      let response;
      try {
        response = await fetch("/oauth/token", {
          method: "POST", cache: "no-store", credentials: "omit",
          headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
          body: new URLSearchParams({ grant_type: "password", username, password }).toString(),
        });
      } catch (e) {
        message(error, "无法连接网关，请稍后重试。");
        return;
      }
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      if (!response.ok || !body || !body.access_token) {
        const code = body && body.error;
        if (code === "invalid_grant") message(error, "用户名或密码错误，请重新输入。");
        else if (response.status === 429) message(error, "登录尝试过于频繁，请稍后再试。");
        else if (code === "invalid_request") message(error, "请输入用户名和密码。");
        else message(error, `登录失败（HTTP ${response.status}），请稍后重试。`);
        return;
      }
      const claims = claimsOf(body.access_token);
      if (!isStaff(claims)) {
        message(error, "该账号不是工作人员账号，无权查看工作看板。");
        return;
      }
      $("password").value = "";
      useToken(body.access_token, claims);
      try { sessionStorage.setItem(TOKEN_KEY, body.access_token); } catch (e) { /* memory only */ }
      await start();
    } finally {
      button.disabled = false;
    }
  }

  function useToken(token, claims) {
    state.token = token;
    state.claims = claims;
    renderWho();
    show($("session"), true);
    show($("login-section"), false);
    show($("board"), true);
  }

  // The signed-in account as its roles and area (never its name).
  function renderWho() {
    const claims = state.claims;
    if (!claims) return;
    const roles = (claims.roles || []).filter((r) => ROLE_LABELS[r]).map((r) => ROLE_LABELS[r]);
    const area = claims.town ? state.areaNames[claims.town] || claims.town : "全区";
    $("who").textContent = `${roles.join("、")} · ${area}`;
  }

  function signOut(reason) {
    state.token = null;
    state.claims = null;
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
    for (const id of ["charts", "kpi-tables", "cases-at_risk", "cases-breached", "runs"]) clear($(id));
    show($("board"), false);
    show($("session"), false);
    show($("login-section"), true);
    message($("login-error"), reason || "");
    $("board").removeAttribute("data-state");
  }

  // -- loading ------------------------------------------------------------------------------

  async function start() {
    let clock = null;
    try {
      const response = await fetch("/api/v1/admin/clock", { cache: "no-store", credentials: "omit" });
      if (response.ok) clock = await response.json();
    } catch (e) { clock = null; }
    $("clock-now").textContent = clock ? shanghai(clock.now) : "—";
    const current = clock ? shanghaiYear(clock.now) : new Date().getFullYear();
    const select = $("year");
    clear(select);
    for (let y = current; y >= current - 4; y--) select.appendChild(el("option", { value: y }, `${y} 年`));
    select.value = String(current);
    state.year = current;
    await loadAll();
  }

  async function loadAll() {
    const board = $("board");
    const year = state.year;
    state.loading += 1;
    board.setAttribute("data-state", "loading");
    message($("status"), "正在加载…");
    message($("cases-error"), "");
    try {
      const kpis = loadKpis(year);
      const cases = Promise.all([fetchCases("at_risk"), fetchCases("breached")]);
      const runs = loadRuns(year);
      await kpis;  // its area names label the cases' towns
      const [atRisk, breached] = await cases;
      renderCases("at_risk", atRisk);
      renderCases("breached", breached);
      await runs;
      if (!state.token) return;
      message($("status"), "已更新");
    } catch (e) {
      if (e instanceof SignedOut) return;
      message($("status"), "加载失败");
    } finally {
      state.loading -= 1;
      if (state.token && state.loading === 0) {
        board.setAttribute("data-year", String(year));
        board.setAttribute("data-state", "ready");
      }
    }
  }

  async function loadKpis(year) {
    const error = $("kpi-error");
    message(error, "");
    clear($("charts"));
    clear($("kpi-tables"));
    message($("sources-warning"), "");
    let report;
    try {
      report = await apiGet("/api/v1/reports/kpis", { year: String(year) });
    } catch (e) {
      if (e instanceof SignedOut) throw e;
      message(error, explain(e, "关键指标报表"));
      return;
    }
    for (const area of report.areas) state.areaNames[area.code] = area.name;
    renderWho();
    $("generated-at").textContent = shanghai(report.generated_at);
    const down = Object.entries(report.sources || {}).filter(([, s]) => s !== "ok").map(([name]) => SOURCE_LABELS[name] || name);
    message($("sources-warning"), down.length ? `以下数据源暂时不可用，相关指标显示为“—”：${down.join("、")}。` : "");
    renderCharts(report.areas);
    renderTables(report.areas);
  }

  async function fetchCases(slaState) {
    try {
      return await apiList("/api/v1/relief/cases", { sla_state: slaState });
    } catch (e) {
      if (e instanceof SignedOut) throw e;
      return { error: explain(e, "救助案件") };
    }
  }

  async function loadRuns(year) {
    const body = $("runs");
    clear(body);
    message($("runs-error"), "");
    message($("more-runs"), "");
    $("count-runs").textContent = "";
    let result;
    try {
      // The service keeps the year's runs (newest month first): at most one per month and
      // group, so one page in practice.
      result = await apiList("/api/v1/subsidy/runs", { year: String(year) });
    } catch (e) {
      if (e instanceof SignedOut) throw e;
      message($("runs-error"), explain(e, "发放批次"));
      return;
    }
    const runs = result.items;
    for (const run of runs) {
      body.appendChild(el("tr", { "data-testid": "run-row", "data-run-id": run.id }, [
        cell("code", run.code, run.code),
        cell("month", run.month, run.month),
        cell("benefit_group", run.benefit_group, RUN_GROUPS[run.benefit_group] || run.benefit_group),
        cell("status", run.status, RUN_STATUSES[run.status] || run.status),
        cell("lines_total", run.lines_total, raw(run.lines_total), "num"),
        cell("lines_payable", run.lines_payable, raw(run.lines_payable), "num"),
        cell("lines_dropped", run.lines_dropped, raw(run.lines_dropped), "num"),
        cell("amount_payable", run.amount_payable, raw(run.amount_payable), "num"),
        cell("bank_count", run.bank_count, run.bank_count === null ? "—" : raw(run.bank_count), "num"),
        cell("bank_total", run.bank_total, run.bank_total === null ? "—" : raw(run.bank_total), "num"),
      ]));
    }
    if (!runs.length) body.appendChild(emptyRow(10, `${year} 年暂无发放批次`));
    $("count-runs").textContent = `（${year} 年 ${runs.length} 批）`;
    message($("more-runs"), result.more ? `批次较多，仅列出 ${year} 年最近的 ${PAGE_LIMIT * MAX_PAGES} 批。` : "");
  }

  // -- rendering ----------------------------------------------------------------------------

  function cell(field, value, text, cls) {
    return el("td", { "data-field": field, "data-raw": raw(value), class: cls }, text);
  }

  function emptyRow(columns, text) {
    return el("tr", { class: "empty" }, el("td", { colspan: columns }, text));
  }

  function figure(tag, area, kpi, field, value, text, extra) {
    return el(tag, { "data-kpi": `${area.code}:${kpi.id}`, "data-field": field, "data-raw": raw(value), ...(extra || {}) }, text);
  }

  function renderTables(areas) {
    const host = $("kpi-tables");
    for (const area of areas) {
      const rows = area.kpis.map((kpi) => el("tr", { "data-kpi-row": `${area.code}:${kpi.id}` }, [
        el("th", { scope: "row" }, kpi.label),
        el("td", { class: "rule" }, kpi.rule || ""),
        el("td", { class: "num" }, figure("span", area, kpi, "value", kpi.value, formatFigure(kpi.value, kpi.unit))),
        el("td", { class: "num" }, figure("span", area, kpi, "numerator", kpi.numerator, kpi.numerator === null ? "—" : raw(kpi.numerator))),
        el("td", { class: "num" }, figure("span", area, kpi, "denominator", kpi.denominator, kpi.denominator === null ? "—" : raw(kpi.denominator))),
        el("td", { class: "num" }, [
          kpi.comparison === ">=" && kpi.target !== null ? el("span", { class: "cmp" }, "≥ ") : null,
          figure("span", area, kpi, "target", kpi.target, formatFigure(kpi.target, kpi.unit)),
        ]),
        el("td", {}, figure("span", area, kpi, "met", kpi.met === null ? null : String(kpi.met), formatMet(kpi.met),
          { class: kpi.met === true ? "met" : kpi.met === false ? "unmet" : "na" })),
      ]));
      host.appendChild(el("section", { class: "area", "data-area": area.code, "data-testid": "area" }, [
        el("h3", {}, [area.name, el("span", { class: "level" }, LEVEL_LABELS[area.level] || area.level)]),
        el("table", { class: "kpis" }, [
          el("thead", {}, el("tr", {}, ["指标", "政策依据", "数值", "分子", "分母", "目标", "是否达标"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, rows),
        ]),
      ]));
    }
  }

  function kpiOf(area, id) { return area.kpis.find((k) => k.id === id) || null; }

  function barClass(kpi) {
    if (kpi.met === true) return "bar met";
    if (kpi.met === false) return "bar unmet";
    return "bar na";
  }

  // One horizontal bar per area, the target as a dashed line; values scaled to the largest.
  function renderCharts(areas) {
    const host = $("charts");
    for (const id of CHART_KPIS) {
      const present = areas.filter((a) => kpiOf(a, id));
      if (!present.length) continue;
      const sample = kpiOf(present[0], id);
      const numbers = present.map((a) => kpiOf(a, id)).flatMap((k) => [k.value, k.target]).filter((v) => v !== null).map(Number);
      let max = Math.max(0, ...numbers);
      if (sample.unit === "ratio") max = Math.max(1, max);
      if (max <= 0) max = 1;
      if (sample.unit === "percent") max *= 1.15;
      const row = 24, labelW = 96, barW = 230, width = labelW + barW + 70, top = 6;
      const height = top + present.length * row + 18;
      const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": sample.label, "data-chart": id });
      chart.appendChild(svg("title", {}, sample.label));
      present.forEach((area, i) => {
        const kpi = kpiOf(area, id);
        const y = top + i * row;
        chart.appendChild(svg("text", { x: labelW - 6, y: y + 16, class: "axis", "text-anchor": "end" }, area.name));
        const w = kpi.value === null ? 0 : Math.max(0, Math.min(1, Number(kpi.value) / max)) * barW;
        chart.appendChild(svg("rect", { x: labelW, y: y + 4, width: w.toFixed(1), height: row - 8, class: barClass(kpi), rx: 2 }));
        const text = svg("text", { x: labelW + w + 4, y: y + 16, class: "value", "data-kpi": `${area.code}:${kpi.id}`, "data-field": "value", "data-raw": raw(kpi.value) },
          formatFigure(kpi.value, kpi.unit));
        chart.appendChild(text);
        if (kpi.target !== null) {
          const x = labelW + Math.min(1, Number(kpi.target) / max) * barW;
          chart.appendChild(svg("line", { x1: x.toFixed(1), x2: x.toFixed(1), y1: y + 1, y2: y + row - 1, class: "target" }));
        }
      });
      chart.appendChild(svg("text", { x: labelW, y: height - 4, class: "legend" },
        sample.target !== null || present.some((a) => kpiOf(a, id).target !== null) ? "虚线为目标值；绿色达标，红色未达标" : "无目标值"));
      host.appendChild(el("figure", { class: "chart" }, [chart, el("figcaption", {}, `${sample.label}（${sample.rule}）`)]));
    }
    renderWishChart(host, areas);
  }

  // The wishes: published / adopted / fulfilled per area, each row scaled to its own target.
  function renderWishChart(host, areas) {
    const present = areas.filter((a) => WISH_KPIS.every((id) => kpiOf(a, id)));
    if (!present.length) return;
    const bar = 10, gap = 2, rowH = WISH_KPIS.length * (bar + gap) + 10, labelW = 96, barW = 220, width = labelW + barW + 100;
    const height = 6 + present.length * rowH + 18;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "微心愿进度", "data-chart": "wishes" });
    chart.appendChild(svg("title", {}, "微心愿发布、认领、实现"));
    present.forEach((area, i) => {
      const y0 = 6 + i * rowH;
      const kpis = WISH_KPIS.map((id) => kpiOf(area, id));
      const target = kpis.map((k) => k.target).find((t) => t !== null);
      const scale = Math.max(1, Number(target || 0), ...kpis.map((k) => Number(k.value || 0)));
      chart.appendChild(svg("text", { x: labelW - 6, y: y0 + rowH / 2 + 2, class: "axis", "text-anchor": "end" }, area.name));
      kpis.forEach((kpi, j) => {
        const y = y0 + j * (bar + gap);
        const w = kpi.value === null ? 0 : (Number(kpi.value) / scale) * barW;
        chart.appendChild(svg("rect", { x: labelW, y, width: w.toFixed(1), height: bar, class: `bar wish ${kpi.id}`, rx: 1 }));
        chart.appendChild(svg("text", { x: labelW + w + 4, y: y + bar - 1, class: "value small" }, [
          `${WISH_LABELS[kpi.id]} `,
          svg("tspan", { "data-kpi": `${area.code}:${kpi.id}`, "data-field": "value", "data-raw": raw(kpi.value) }, formatFigure(kpi.value, kpi.unit)),
        ]));
      });
      if (target !== undefined) {
        const x = labelW + (Number(target) / scale) * barW;
        chart.appendChild(svg("line", { x1: x.toFixed(1), x2: x.toFixed(1), y1: y0 - 1, y2: y0 + rowH - 9, class: "target" }));
      }
    });
    chart.appendChild(svg("text", { x: labelW, y: height - 4, class: "legend" }, "虚线为目标（每村 5 个，全区 505 个）"));
    host.appendChild(el("figure", { class: "chart wide" }, [chart, el("figcaption", {}, "微心愿：发布、认领、实现（R-MW）")]));
  }

  function renderCases(slaState, result) {
    const body = $(`cases-${slaState}`);
    clear(body);
    const more = $(`more-${slaState}`);
    message(more, "");
    $(`count-${slaState}`).textContent = "";
    if (result.error) {
      message($("cases-error"), result.error);
      return;
    }
    for (const c of result.items) {
      const sla = c.sla || {};
      body.appendChild(el("tr", { "data-testid": "case-row", "data-case-id": c.id, "data-sla-state": sla.state }, [
        el("td", { "data-field": "id", "data-raw": c.id, title: c.id, class: "mono" }, c.id.slice(0, 8)),
        cell("town", c.town, state.areaNames[c.town] || c.town),
        cell("kind", c.kind, CASE_KINDS[c.kind] || c.kind),
        cell("status", c.status, CASE_STATUSES[c.status] || c.status),
        cell("accepted_at", c.accepted_at, shanghai(c.accepted_at)),
        cell("deadline_date", sla.deadline_date, sla.deadline_date || "—"),
        cell("sla_state", sla.state, SLA_STATES[sla.state] || sla.state, `sla ${sla.state}`),
        cell("amount_requested", c.amount_requested, c.amount_requested === null ? "—" : raw(c.amount_requested), "num"),
      ]));
    }
    if (!result.items.length) body.appendChild(emptyRow(8, slaState === "at_risk" ? "暂无即将超时的案件" : "暂无超时案件"));
    $(`count-${slaState}`).textContent = `（${result.items.length} 件${result.more ? "以上" : ""}）`;
    message(more, result.more ? `案件较多，仅列出最近的 ${PAGE_LIMIT * MAX_PAGES} 件。` : "");
  }

  // -- wiring -------------------------------------------------------------------------------

  function init() {
    $("login-form").addEventListener("submit", signIn);
    $("logout").addEventListener("click", () => signOut(""));
    $("refresh").addEventListener("click", () => { if (state.token) loadAll(); });
    $("year").addEventListener("change", (event) => {
      state.year = Number(event.target.value);
      if (state.token) loadAll();
    });
    let saved = null;
    try { saved = sessionStorage.getItem(TOKEN_KEY); } catch (e) { saved = null; }
    const claims = saved ? claimsOf(saved) : null;
    if (saved && isStaff(claims)) {
      useToken(saved, claims);
      start();
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
