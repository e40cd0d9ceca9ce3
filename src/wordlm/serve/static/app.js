// The next-word page: plain JavaScript, no libraries, every request to this service's own /v1/ API.
//
// On each keystroke: the words before the cursor are the prompt of POST v1/next; while the cursor
// is inside a word, the letters typed so far are its `prefix`, so the chips complete that word
// (vocabulary words starting with them, ranked by the model given the words before). Clicking a
// chip (or Tab) puts the word in. "Complete" asks POST v1/generate for a beam search's n best
// continuations; the sentence is scored by POST v1/score (per token) and each word shaded by
// p(word | the words before). Answers that arrive after a newer request was sent are dropped.
"use strict";

const TOP = 8;          // chips shown
const BEAM = {strategy: "beam", beam_size: 8, num: 5, max_words: 12};
const $ = (id) => document.getElementById(id);
const text = $("text"), chips = $("chips"), completions = $("completions");
const shaded = $("shaded"), figures = $("figures"), errorBox = $("error");
let apiKey = sessionStorage.getItem("wordlm-key") || "";
let asked = {next: 0, score: 0, complete: 0};   // the latest request of each kind
let scoreTimer = null;
let shown = {prompt: null, prefix: null, words: []};   // what the chips are for

async function api(path, body) {
  const headers = {"Content-Type": "application/json"};
  if (apiKey) headers["Authorization"] = "Bearer " + apiKey;
  const response = await fetch(path, body === undefined ? {headers} :
                               {method: "POST", headers, body: JSON.stringify(body)});
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (response.status === 401) $("key-box").hidden = false;
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showError(e) { errorBox.textContent = e ? String(e.message || e) : ""; }

// What is being typed: the prompt (text before the word under the cursor) and that word's letters.
// A character model predicts characters: no prefix, and a chip is one character, put in as it is.
function charModel() { return document.body.dataset.tokenizer === "char"; }

function editing() {
  const pos = text.selectionStart, before = text.value.slice(0, pos);
  if (charModel()) return {pos, prefix: null, prompt: before};
  const partial = /\S+$/.exec(before);
  const prefix = partial ? partial[0] : null;
  return {pos, prefix, prompt: prefix ? before.slice(0, pos - prefix.length) : before};
}

function isMarker(word) { return word.startsWith("<") && word.endsWith(">"); }

async function suggest() {
  const ticket = ++asked.next, {prompt, prefix} = editing();
  const body = {prompt, top: TOP + 2};
  if (prefix !== null) body.prefix = prefix;
  try {
    const data = await api("v1/next", body);
    if (ticket !== asked.next) return;
    showError(null);
    const words = data.words.filter((w) => !isMarker(w.word)).slice(0, TOP);
    shown = {prompt, prefix, words};
    renderChips(words, prefix);
  } catch (e) {
    if (ticket === asked.next) { renderChips([], prefix); showError(e); }
  }
}

function renderChips(words, prefix) {
  chips.replaceChildren();
  chips.dataset.mode = prefix === null ? "next" : "complete";
  for (const w of words) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.dataset.word = w.word;
    chip.title = `p = ${w.prob.toPrecision(3)}   ln p = ${w.logprob.toFixed(3)}`;
    const word = document.createElement("span");
    word.textContent = w.word;
    const prob = document.createElement("small");
    prob.textContent = percent(w.prob);
    chip.append(word, prob);
    chip.addEventListener("click", () => insert(w.word));
    chips.append(chip);
  }
}

function percent(p) { return p >= 0.095 ? `${Math.round(100 * p)}%` : p >= 0.001 ? `${(100 * p).toFixed(1)}%` : "<0.1%"; }

// Put `word` in: it replaces the word being typed (from its start to its end), or goes at the cursor.
function insert(word) {
  const {pos, prefix} = editing(), value = text.value;
  let start = pos, end = pos;
  if (prefix !== null) {
    start = pos - prefix.length;
    end = pos + (/^\S*/.exec(value.slice(pos))[0].length);
  }
  const left = value.slice(0, start), right = value.slice(end);
  const gap = !charModel() && left && !/\s$/.test(left) ? " " : "";
  const after = charModel() || right.startsWith(" ") ? "" : " ";
  text.value = left + gap + word + after + right;
  const cursor = (left + gap + word + after).length;
  text.setSelectionRange(cursor, cursor);
  text.focus();
  changed();
}

// The prompt of a completion: the text; while a word is being typed, with that word completed as
// the first chip says (the model's most likely word starting with the letters typed).
function completionPrompt() {
  const {prompt, prefix} = editing();
  if (prefix !== null && shown.prefix === prefix && shown.prompt === prompt && shown.words.length) {
    return (prompt + shown.words[0].word).trim();
  }
  return text.value.trim();
}

async function complete() {
  const ticket = ++asked.complete, prompt = completionPrompt();
  completions.replaceChildren();
  completions.classList.add("busy");
  try {
    const data = await api("v1/generate", {prompt, ...BEAM});
    if (ticket !== asked.complete) return;
    showError(null);
    for (const h of data.hypotheses) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "completion";
      button.dataset.logprob = h.logprob;
      const shown = document.createElement("span");
      const typed = document.createElement("span");
      typed.className = "typed";
      typed.textContent = prompt;
      const added = document.createElement("b");
      added.textContent = h.continuation ? (prompt ? " " : "") + h.continuation : " (the end)";
      shown.append(typed, added);
      const lp = document.createElement("small");
      lp.textContent = `continuation ln p ${h.logprob.toFixed(2)}`;
      lp.title = "ln p(continuation | the text before it)";
      button.append(shown, lp);
      button.addEventListener("click", () => {
        ++asked.complete;              // a list still on its way is for the old text: drop it too
        completions.replaceChildren(); // the list was for the text before this choice
        text.value = (prompt + (prompt && h.continuation ? " " : "") + h.continuation).trimStart() + " ";
        text.setSelectionRange(text.value.length, text.value.length);
        text.focus();
        changed();
      });
      item.append(button);
      completions.append(item);
    }
  } catch (e) {
    if (ticket === asked.complete) showError(e);
  } finally {
    if (ticket === asked.complete) completions.classList.remove("busy");
  }
}

async function score() {
  const ticket = ++asked.score, sentence = text.value;
  if (!sentence.trim()) { shaded.replaceChildren(); figures.textContent = ""; return; }
  try {
    const s = await api("v1/score", {text: sentence, per_token: true});
    if (ticket !== asked.score) return;
    shaded.replaceChildren();
    for (const t of s.tokens) {
      const span = document.createElement("span");
      span.className = "tok" + (t.oov ? " oov" : "") + (t.token === "</s>" ? " end" : "");
      span.textContent = t.token === "</s>" ? "⏎" : t.token;
      if (t.logprob === null) {
        span.classList.add("context");
        span.title = "context only (not scored)";
      } else {
        const p = Math.exp(t.logprob);
        span.dataset.logprob = t.logprob;
        span.style.backgroundColor = shade(t.logprob);
        span.title = `${t.token}${t.oov ? " (not in the vocabulary: scored as <unk>)" : ""}\n` +
                     `p = ${p.toPrecision(3)}   ln p = ${t.logprob.toFixed(3)}`;
      }
      shaded.append(span);
    }
    const ppl = s.ppl === null ? "∞" : s.ppl.toPrecision(4);
    figures.textContent = `sentence ln p = ${s.logprob.toFixed(3)}   perplexity ${ppl}   ` +
                          `${s.words} word${s.words === 1 ? "" : "s"}, ${s.oovs} OOV${s.oovs === 1 ? "" : "s"}`;
  } catch (e) {
    if (ticket === asked.score) showError(e);
  }
}

// Red (p ≤ 1e-4) through yellow to green (p = 1), on a log scale.
function shade(logprob) {
  const t = Math.max(0, Math.min(1, 1 + logprob / Math.log(1e4)));
  return `hsl(${Math.round(120 * t)}, 75%, 80%)`;
}

function changed() {
  suggest();
  clearTimeout(scoreTimer);
  scoreTimer = setTimeout(score, 120);  // the score can wait for a pause in the typing
}

async function describe() {
  try {
    const info = await api("v1/info");
    const size = info.size || {};
    $("model").textContent = `${info.framing.name} model, ${info.vocab_words.toLocaleString()} words, ` +
                             `${size.layers}×${size.units} LSTM` + (info.valid_ppl ? `, valid ppl ${info.valid_ppl.toFixed(1)}` : "");
    document.body.dataset.tokenizer = info.tokenizer.mode;
    $("key-box").hidden = true;
  } catch (e) {
    $("model").textContent = "";
    showError(e);
  }
}

text.addEventListener("input", changed);
text.addEventListener("click", suggest);
text.addEventListener("keyup", (e) => { if (e.key.startsWith("Arrow") || e.key === "Home" || e.key === "End") suggest(); });
text.addEventListener("keydown", (e) => {
  const first = chips.querySelector(".chip");
  if (e.key === "Tab" && !e.shiftKey && first) { e.preventDefault(); insert(first.dataset.word); }
});
$("complete").addEventListener("click", complete);
$("clear").addEventListener("click", () => { text.value = ""; completions.replaceChildren(); text.focus(); changed(); });
$("key-save").addEventListener("click", () => {
  apiKey = $("key").value.trim();
  sessionStorage.setItem("wordlm-key", apiKey);
  describe();
  changed();
});

describe();
changed();
text.focus();
