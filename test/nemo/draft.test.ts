import t from 'tap'
import { diffTimelines, isExportable, parseTimeline, summarize } from '../../src/nemo/draft.ts'
import pg from 'pg'
import { testDatabase } from '../helpers/database.ts'

// The simulator's minimal draft, contract §3.7, verbatim.
const SIM_DRAFT = JSON.parse('{"t":[{"tt":0,"sg":[{"src":"https://cdn.local/sim/clip1.mp4","st":0,"d":10000}]},{"tt":1,"sg":[{"src":"https://cdn.local/sim/bgm.mp3","st":0,"d":10000,"v":0.35}]},{"tt":7,"sg":[{"text":"Urban Dreams","st":0,"d":3000}]}],"d":10000,"m":{"title":"Urban Dreams","width":1920,"height":1080}}')

const NAMED = {
  t: [
    { tt: 0, sg: [{ name: 'city timelapse', src: 'https://cdn.local/a.mp4', start: 0, duration: 10000 }] },
    { tt: 1, sg: [{ title: 'Lo-fi', st: 0, d: 10000, volume: 0.35 }] },
    { tt: 7, sg: [{ text: 'Urban Dreams', st: 0, d: 3000 }] }
  ],
  d: 10000
}

t.test('parses the short keys into a typed timeline', async (t) => {
  const tl = parseTimeline(SIM_DRAFT)
  t.equal(tl.durationMs, 10000)
  t.equal(tl.title, 'Urban Dreams')
  t.equal(tl.width, 1920)
  t.equal(tl.height, 1080)
  t.same(tl.tracks.map((x) => [x.index, x.kind]), [[1, 'video'], [2, 'audio'], [3, 'text']])
  t.match(tl.tracks[1]?.segments[0], { startMs: 0, durationMs: 10000, volume: 0.35, src: 'https://cdn.local/sim/bgm.mp3', label: 'bgm.mp3' })
  t.match(tl.tracks[2]?.segments[0], { text: 'Urban Dreams', label: 'Urban Dreams' })
  t.same(tl.tracks[0]?.segments[0]?.raw, SIM_DRAFT.t[0].sg[0], 'the raw segment is kept')
})

t.test('summary line, exactly the product format', async (t) => {
  t.equal(summarize(parseTimeline(NAMED)),
    'Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)')
  t.equal(summarize(parseTimeline(SIM_DRAFT)),
    'Timeline (3 tracks): 1. Video: clip1.mp4 (0-10s) 2. BGM: bgm.mp3 (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)')
  t.equal(summarize(parseTimeline(JSON.stringify(NAMED))), summarize(parseTimeline(NAMED)), 'a JSON string draft works too')
})

t.test('tolerates missing keys, unknown fields and odd values', async (t) => {
  t.equal(summarize(parseTimeline(null)), 'Timeline (0 tracks): empty')
  t.equal(summarize(parseTimeline({ t: 'nope', zz: 1 })), 'Timeline (0 tracks): empty')
  const odd = parseTimeline({
    t: [
      { tt: 0, sg: [] },
      { tt: 3, sg: [{ foo: 1 }], extra: true },
      { tt: 0, sg: [{ src: '/mnt/userdata/x/My%20Clip.mov?sig=1' }, { name: 'b', st: 2500, d: 2500 }, { name: 'c' }, { name: 'd' }] },
      null
    ]
  })
  t.equal(odd.durationMs, 5000, 'duration falls back to the last segment end')
  t.equal(summarize(odd),
    'Timeline (4 tracks): 1. Video: (empty) 2. Track: untitled 3. Video: My Clip.mov, b, c, +1 more (2.5-5s) 4. Track: (empty)')
  t.equal(parseTimeline({ t: [{ tt: 1, sg: [{ v: 80, d: 1000 }] }] }).tracks[0]?.segments[0]?.volume, 0.8, 'percent volumes are read as fractions')
})

t.test('isExportable: draft.t exists and a track has segments', async (t) => {
  t.equal(isExportable(SIM_DRAFT), true)
  t.equal(isExportable(null), false)
  t.equal(isExportable({}), false)
  t.equal(isExportable({ t: [] }), false)
  t.equal(isExportable({ t: [{ tt: 0, sg: [] }, { tt: 1 }] }), false)
  t.equal(isExportable({ t: [{ tt: 0, sg: [] }, { tt: 7, sg: [{ text: 'x' }] }] }), true)
})

t.test('diff: additions, removals and changes in one line', async (t) => {
  const video = { tt: 0, sg: [{ src: 'https://cdn.local/sim/clip1.mp4', st: 0, d: 10000 }] }
  const bgm = { tt: 1, sg: [{ src: 'https://cdn.local/sim/bgm.mp3', st: 0, d: 10000, v: 0.35 }] }
  const title = { tt: 7, sg: [{ text: 'Urban Dreams', st: 0, d: 3000 }] }
  const v1 = parseTimeline({ t: [video], d: 10000 })

  const addTitle = diffTimelines(v1, parseTimeline({ t: [video, title], d: 10000 }))
  t.equal(addTitle.summary, "Added title 'Urban Dreams' 0-3 s")
  t.match(addTitle.changes, [{ type: 'track_added', kind: 'text', index: 2 }])

  t.equal(diffTimelines(v1, parseTimeline({ t: [video, bgm], d: 10000 })).summary, 'Added BGM track')
  t.equal(diffTimelines(v1, parseTimeline({ t: [bgm], d: 10000 })).summary, 'Removed video track 1; Added BGM track')
  t.equal(diffTimelines(v1, parseTimeline({ t: [video], d: 12000 })).summary, 'Changed duration 10s -> 12s')
  t.equal(diffTimelines(v1, v1).summary, 'No changes')
  t.same(diffTimelines(v1, v1).changes, [])

  t.equal(diffTimelines(null, parseTimeline(SIM_DRAFT)).summary,
    "Added video track 1; Added BGM track; Added title 'Urban Dreams' 0-3 s; Changed duration 0s -> 10s; Changed project title '' -> 'Urban Dreams'; Changed resolution ?x? -> 1920x1080")

  const louder = { tt: 1, sg: [{ ...bgm.sg[0], v: 0.5 }] }
  const renamed = { tt: 7, sg: [{ text: 'City Nights', st: 0, d: 3000 }] }
  const moved = { tt: 7, sg: [{ text: 'Urban Dreams', st: 1000, d: 3000 }] }
  const twoClips = { tt: 0, sg: [...video.sg, { src: 'https://cdn.local/sim/clip2.mp4', st: 10000, d: 2000 }] }
  const base = parseTimeline({ t: [video, bgm, title], d: 10000 })
  t.equal(diffTimelines(base, parseTimeline({ t: [video, louder, title], d: 10000 })).summary, 'Changed BGM volume 35% -> 50%')
  t.equal(diffTimelines(base, parseTimeline({ t: [video, bgm, renamed], d: 10000 })).summary, "Changed title 'Urban Dreams' -> 'City Nights'")
  t.equal(diffTimelines(base, parseTimeline({ t: [video, bgm, moved], d: 10000 })).summary, "Moved title 'Urban Dreams' 0-3 s -> 1-4 s")
  t.equal(diffTimelines(base, parseTimeline({ t: [twoClips, bgm, title], d: 12000 })).summary,
    'Added 1 clip to video track 1; Changed duration 10s -> 12s')
  t.equal(diffTimelines(base, parseTimeline({ t: [video, bgm], d: 10000 })).summary, "Removed title 'Urban Dreams'")
})

t.test('a draft read back from a jsonb column (keys reordered) is unchanged', async (t) => {
  const url = await testDatabase(t)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  const { rows } = await client.query('SELECT $1::jsonb AS draft', [JSON.stringify(SIM_DRAFT)])
  const stored = rows[0].draft
  t.not(JSON.stringify(stored.t[0].sg[0]), JSON.stringify(SIM_DRAFT.t[0].sg[0]), 'Postgres did reorder the keys')
  t.same(diffTimelines(parseTimeline(stored), parseTimeline(SIM_DRAFT)).changes, [])
  t.same(diffTimelines(parseTimeline(SIM_DRAFT), parseTimeline(stored)).changes, [])
  const moved = structuredClone(SIM_DRAFT)
  moved.t[0].sg[0].src = 'https://cdn.local/sim/clip2.mp4'
  t.equal(diffTimelines(parseTimeline(stored), parseTimeline(moved)).summary, 'Changed video track 1', 'a real change still shows')
})
