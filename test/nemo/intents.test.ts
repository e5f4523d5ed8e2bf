import t from 'tap'
import { annotateGuiText, routeSay } from '../../src/nemo/intents.ts'

t.test('say routing table', async (t) => {
  const cases: Array<[string, ReturnType<typeof routeSay>]> = [
    ['export', 'export'], ['Export it please', 'export'], ['导出视频', 'export'], ['download the result', 'export'],
    ['send me the video', 'export'], ['Send me the video when ready', 'export'],
    ['credits', 'credits'], ['how many credits do I have?', 'credits'], ['积分', 'credits'], ['balance', 'credits'], ['余额多少', 'credits'],
    ['status', 'state'], ['状态', 'state'], ['show tracks', 'state'], ['Show me the tracks', 'state'],
    ['upload', 'upload'], ['how do I upload a clip', 'upload'], ['上传素材', 'upload'],
    ['make it more cinematic', 'chat'], ['add a title "Urban Dreams"', 'chat'], ['', 'chat'],
    ['exporter', 'chat'], ['what is the export status?', 'export']
  ]
  for (const [text, intent] of cases) t.equal(routeSay(text), intent, JSON.stringify(text))
})

t.test('annotates GUI instructions with the API action', async (t) => {
  const text = 'Your video is ready! Preview it in the timeline, then click Export to download. ' +
    'You can also open the music panel or drag the clip to reorder. Click the Regenerate button if needed.'
  t.same(annotateGuiText(text).map(({ phrase, action }) => [phrase, action]), [
    ['Preview it in the timeline', 'show_state_summary'],
    ['click Export', 'start_export'],
    ['open the music panel', 'read_state'],
    ['drag the clip to reorder', 'send_edit_turn'],
    ['Click the Regenerate button', 'act_via_api']
  ])
  for (const a of annotateGuiText(text)) {
    t.equal(text.slice(a.index, a.index + a.phrase.length), a.phrase, 'index points at the phrase')
    t.type(a.hint, 'string')
  }
})

t.test('Chinese GUI phrases', async (t) => {
  t.same(annotateGuiText('视频已生成，请点击导出按钮下载。也可以打开音乐面板，或拖拽片段调整顺序，点击预览查看。').map(({ phrase, action }) => [phrase, action]), [
    ['点击导出按钮', 'start_export'],
    ['打开音乐面板', 'read_state'],
    ['拖拽片段调整顺序', 'send_edit_turn'],
    ['点击预览查看', 'act_via_api']
  ])
  t.same(annotateGuiText('完成后导出即可').map((a) => a.action), ['start_export'])
  t.same(annotateGuiText('在时间线预览效果').map((a) => a.action), ['show_state_summary'])
})

t.test('plain text has no annotations', async (t) => {
  t.same(annotateGuiText('I added a title and background music.'), [])
  t.same(annotateGuiText('The export is free.'), [], 'a lower-case mention is not a button')
})
