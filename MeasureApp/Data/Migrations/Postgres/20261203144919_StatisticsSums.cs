using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MeasureApp.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class StatisticsSums : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<byte[]>(
                name: "sums",
                table: "sample_levels",
                type: "bytea",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_sample_levels_sums_pending",
                table: "sample_levels",
                columns: new[] { "level", "measurement_id", "seq" },
                filter: "sums IS NULL AND level >= 3");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_sample_levels_sums_pending",
                table: "sample_levels");

            migrationBuilder.DropColumn(
                name: "sums",
                table: "sample_levels");
        }
    }
}
