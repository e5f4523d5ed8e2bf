-- AlterTable
ALTER TABLE "Tenant" ADD COLUMN     "allowedOrigins" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "tokensRevokedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "TokenIssuer" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "issuer" TEXT NOT NULL,
    "jwksUrl" TEXT NOT NULL,
    "audience" TEXT NOT NULL,
    "userClaim" TEXT NOT NULL DEFAULT 'sub',
    "scopeClaim" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TokenIssuer_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "TokenIssuer_tenantId_idx" ON "TokenIssuer"("tenantId");

-- CreateIndex
CREATE UNIQUE INDEX "TokenIssuer_issuer_audience_key" ON "TokenIssuer"("issuer", "audience");

-- AddForeignKey
ALTER TABLE "TokenIssuer" ADD CONSTRAINT "TokenIssuer_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;
