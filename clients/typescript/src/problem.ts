/** An RFC 9457 problem answer from the gateway, with its stable `GW_ERR_*` code. */
export class GatewayProblem extends Error {
  override readonly name = 'GatewayProblem'
  /** A stable `GW_ERR_*` code (or `GW_CLIENT_*` for failures on this side of the wire). */
  readonly code: string
  readonly status: number
  readonly detail: string
  readonly type: string
  readonly title: string
  readonly instance: string | undefined
  /** The whole problem document (extensions such as `retryAfter` included). */
  readonly problem: Record<string, unknown>

  constructor (status: number, problem: Record<string, unknown>) {
    const detail = typeof problem.detail === 'string' ? problem.detail : (typeof problem.title === 'string' ? problem.title : `HTTP ${status}`)
    super(detail)
    this.status = status
    this.problem = problem
    this.code = typeof problem.code === 'string' ? problem.code : `GW_CLIENT_HTTP_${status}`
    this.detail = detail
    this.type = typeof problem.type === 'string' ? problem.type : 'about:blank'
    this.title = typeof problem.title === 'string' ? problem.title : ''
    this.instance = typeof problem.instance === 'string' ? problem.instance : undefined
  }
}

/** Reads a failed answer as a GatewayProblem, whatever its body. */
export async function problemOf (res: Response): Promise<GatewayProblem> {
  const text = await res.text().catch(() => '')
  let body: Record<string, unknown> = {}
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed !== null && typeof parsed === 'object') body = parsed as Record<string, unknown>
  } catch {
    body = { detail: text.slice(0, 500) || res.statusText }
  }
  return new GatewayProblem(res.status, body)
}
