// How the demo (a client of the gateway) sends a request: again, after the wait the gateway
// asks for, when it refuses it for now. A 503 or 429 with `Retry-After` (shedding load,
// admission, a rate limit) comes before anything is accepted, so sending again is safe.
import { request } from 'undici'

/** The longest wait honoured between attempts, in seconds (a larger `Retry-After` is cut to it). */
const MAX_WAIT_S = 10

/**
 * One request, sent again while the gateway answers 503 or 429 with a `Retry-After` in seconds,
 * up to `attempts` in all; the last answer is returned as it is (a refusal included). `options`
 * is called per attempt: a streamed body can be read only once.
 */
export async function sendAgainWhenRefused (url: string, options: () => Parameters<typeof request>[1], attempts = 4): ReturnType<typeof request> {
  for (let attempt = 1; ; attempt++) {
    const res = await request(url, options())
    const wait = Number(res.headers['retry-after'])
    if ((res.statusCode !== 503 && res.statusCode !== 429) || !Number.isFinite(wait) || attempt >= attempts) return res
    await res.body.dump()
    await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(wait, 1), MAX_WAIT_S) * 1000))
  }
}
