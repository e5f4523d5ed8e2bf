// Two small text tables from the seed skill. `routeSay` sends a free-text "say" to the
// operation it names (export, credits, state, upload hint) or to a chat turn. The upstream
// agent believes it talks to a GUI ("click Export", "点击导出", "preview in timeline");
// `annotateGuiText` marks those phrases with what an API caller should do instead.

export type SayIntent = 'export' | 'credits' | 'state' | 'upload' | 'chat'

// Order matters: the first row that matches wins ("export status" is an export).
const SAY_TABLE: Array<[SayIntent, RegExp]> = [
  ['export', /\b(?:export|download)\b|send me the video|导出|下载/i],
  ['credits', /\b(?:credits?|balance)\b|积分|余额/i],
  ['state', /\bstatus\b|\bshow (?:me )?(?:the )?tracks\b|状态/i],
  ['upload', /\bupload\b|上传/i]
]

export function routeSay (text: string): SayIntent {
  for (const [intent, re] of SAY_TABLE) if (re.test(text)) return intent
  return 'chat'
}

type GuiAction = 'act_via_api' | 'read_state' | 'send_edit_turn' | 'show_state_summary' | 'start_export'

export interface GuiAnnotation {
  /** The phrase exactly as it appears in the text. */
  phrase: string
  action: GuiAction
  hint: string
  /** Offset of `phrase` in the text. */
  index: number
  /** The gateway call that does what the GUI instruction asks, when there is one. */
  api?: { method: 'POST' | 'GET', path: string }
}

const HINTS: Record<GuiAction, string> = {
  start_export: 'There is no Export button over the API: start an export with POST /v1/sessions/:sessionId/exports (or say "export").',
  show_state_summary: 'There is no timeline to preview over the API: read the session state summary instead.',
  read_state: 'There is no panel to open over the API: read the session state instead.',
  send_edit_turn: 'Dragging is not possible over the API: describe the edit in a new message.',
  act_via_api: 'There is nothing to click over the API: use the matching API call or describe it in a message.'
}

// Specific rules first: a later rule never claims text an earlier one already matched.
const GUI_RULES: Array<[GuiAction, RegExp]> = [
  ['start_export', /\b(?:click|tap|press|hit|select)\s+(?:on\s+)?(?:the\s+)?["'“‘]?export["'”’]?(?:\s+button)?/gi],
  ['start_export', /(?:点击|单击|点)\s*[「“"]?导出[」”"]?(?:按钮)?/g],
  ['show_state_summary', /\bpreview\b[^.!?\n]{0,40}?\btimeline\b/gi],
  ['show_state_summary', /在?时间线(?:上|中|里)?预览|预览时间线/g],
  ['read_state', /\bopen\s+(?:the\s+|your\s+)?[\w -]{0,30}?\b(?:panel|tab|menu|editor|timeline|library|settings|sidebar|window)\b/gi],
  ['read_state', /打开[^\s，。,.!！?？]{1,15}/g],
  ['send_edit_turn', /\bdrag(?:\s+and\s+drop)?\b[^.!?\n,;]{0,40}/gi],
  ['send_edit_turn', /拖(?:拽|动|放)[^，。,.!！?？\n]{0,20}/g],
  ['act_via_api', /\b(?:click|tap)\s+(?:on\s+)?(?:the\s+)?["'“‘]?[\w-]+(?:\s+button)?["'”’]?/gi],
  ['act_via_api', /(?:点击|单击)[^\s，。,.!！?？]{1,12}/g],
  ['start_export', /\bExport\b/g],
  ['start_export', /导出/g]
]

const API: Partial<Record<GuiAction, (sessionId: string) => NonNullable<GuiAnnotation['api']>>> = {
  start_export: (id) => ({ method: 'POST', path: `/v1/sessions/${id}/exports` }),
  read_state: (id) => ({ method: 'GET', path: `/v1/sessions/${id}/state` }),
  show_state_summary: (id) => ({ method: 'GET', path: `/v1/sessions/${id}/state` })
}

/** GUI instructions in agent text, in text order, each with the API-side action. */
export function annotateGuiText (text: string, sessionId?: string): GuiAnnotation[] {
  const found: GuiAnnotation[] = []
  const overlaps = (start: number, end: number): boolean =>
    found.some((f) => start < f.index + f.phrase.length && f.index < end)
  for (const [action, re] of GUI_RULES) {
    for (const m of text.matchAll(re)) {
      const phrase = m[0].trim()
      const index = m.index
      if (phrase === '' || overlaps(index, index + phrase.length)) continue
      const api = sessionId === undefined ? undefined : API[action]?.(sessionId)
      found.push({ phrase, action, hint: HINTS[action], index, ...(api === undefined ? {} : { api }) })
    }
  }
  return found.sort((x, y) => x.index - y.index)
}
