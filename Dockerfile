# nemo-gateway: one image for the gateway (and the simulator, with another command).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .taprc tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY src ./src
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
# glibc gives freed memory back instead of keeping up to 64 MiB per heap (README: "Memory")
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 DATA_DIR=/data MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
RUN useradd --system --uid 10001 gateway && mkdir -p /data && chown gateway /data
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/dist ./dist
COPY package.json ./
COPY prisma ./prisma
COPY schema ./schema
COPY public ./public
USER gateway
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import=./dist/telemetry.js", "dist/server.js"]
